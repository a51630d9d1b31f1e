/**
 * The job runner: nova's `process_submissions.py` loop (nova-api.md §7), event-driven.
 *
 * Submission → (processing_started) ingest → (processing_finished) UserImage without a job
 * (`jobs: [null]`) → when a solver slot frees, a Job (`processing`) → `solving` → done.
 * A worker restart deletes unfinished Job rows so they come back under new ids, exactly the
 * behaviour clients must survive in production.
 */
import { mkdir, rm } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import type { SolveOutcome, SolverBackend } from './solver-backend.js';
import { exists, ingest, novaErrorMessage, solverInputOf, storeImage, type IngestResult } from './ingest.js';
import { solverOptions } from './options.js';
import { abortableDelay } from './solvers/simulated.js';
import type { JobRow, Store, SubmissionRow } from './store.js';
import type { UrlFetchLimits } from './url-fetch.js';

export interface ProcessorOptions {
  concurrency: number;
  ingestMs: number;
  queueMs: number;
  urlFetch: UrlFetchLimits;
  maxDecompressedBytes: number;
  log: (line: string) => void;
}

/** Microseconds since the epoch, the resolution of Django's DateTimeField. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

const INGEST_WORKERS = 4; // nova runs 4 submission workers

interface Run {
  ctl: AbortController;
  done: Promise<void>;
}

export class Processor {
  private readonly ingesting = new Map<number, Run>();
  private readonly running = new Map<number, Run>();
  /** Every in-flight promise, including ones orphaned by a restart, for close(). */
  private readonly inflight = new Set<Promise<void>>();
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly backend: SolverBackend,
    private readonly opts: ProcessorOptions,
  ) {}

  get activeSolves(): number {
    return this.running.size;
  }

  kick(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.closed) return;
    const st = this.store.state;
    for (const sub of st.submissions) {
      if (this.ingesting.size >= INGEST_WORKERS) break;
      if (sub.processingStarted === null && !this.ingesting.has(sub.id)) this.startIngest(sub);
    }
    if (this.running.size >= this.opts.concurrency) return;
    const withJob = new Set(st.jobs.map((j) => j.userImageId));
    const waiting = st.userImages.filter((u) => !withJob.has(u.id)).sort((a, b) => a.id - b.id);
    for (const ui of waiting) {
      if (this.running.size >= this.opts.concurrency) break;
      this.startJob(ui.id);
    }
  }

  /** Registers background work; it can never end in an unhandled rejection (that kills Node). */
  private track(p: Promise<void>): Promise<void> {
    const safe = p.catch((err: unknown) => this.opts.log(`background task failed: ${(err as Error)?.message ?? String(err)}`));
    this.inflight.add(safe);
    void safe.finally(() => this.inflight.delete(safe));
    return safe;
  }

  private startIngest(sub: SubmissionRow): void {
    const started = nowMicros();
    sub.processingStarted = started;
    this.store.saveInBackground();
    const ctl = new AbortController();
    const run: Run = { ctl, done: Promise.resolve() };
    this.ingesting.set(sub.id, run);
    run.done = this.track(
      this.ingestOne(sub.id, started, ctl.signal)
        .catch((err: unknown) => {
          if (!ctl.signal.aborted) this.opts.log(`submission ${sub.id}: ingest crashed: ${(err as Error).message}`);
        })
        .finally(() => {
          if (this.ingesting.get(sub.id) === run) this.ingesting.delete(sub.id);
          this.kick();
        }),
    );
  }

  private async ingestOne(subId: number, started: number, signal: AbortSignal): Promise<void> {
    await abortableDelay(this.opts.ingestMs, signal);
    const sub = this.store.submission(subId);
    if (!sub) return;
    let result: IngestResult;
    try {
      result = await ingest(this.store, sub, {
        urlFetch: this.opts.urlFetch,
        maxDecompressedBytes: this.opts.maxDecompressedBytes,
        signal,
      });
    } catch (err) {
      if (signal.aborted) return;
      result = { ok: false, error: `Exception: ${(err as Error).message}`, originalFilename: sub.originalFilename };
    }
    // A restart or deletion while we worked makes this run stale: its result is dropped.
    const current = this.store.submission(subId);
    if (signal.aborted || !current || current.processingStarted !== started) return;
    current.originalFilename = result.originalFilename;
    if (result.ok) {
      const st = this.store.state;
      let image = st.images.find((i) => i.sha1 === result.image.sha1 && i.kind === result.image.kind);
      if (image && !(await exists(solverInputOf(this.store, image)))) image = undefined;
      if (!image) {
        const id = this.store.nextId('image');
        await storeImage(this.store, id, result.imagePath, result.image.kind);
        if (signal.aborted || current.processingStarted !== started) return;
        image = { id, createdAt: nowMicros(), ...result.image };
        st.images.push(image);
      }
      st.userImages.push({
        id: this.store.nextId('userImage'),
        submissionId: subId,
        imageId: image.id,
        userId: current.userId,
        originalFilename: result.originalFilename,
        tags: [],
        machineTags: [],
        objectsInField: [],
      });
    } else {
      current.errorMessage = novaErrorMessage(subId, result.error);
      this.opts.log(`submission ${subId}: ingestion failed`);
    }
    current.processingFinished = nowMicros();
    await this.store.save();
  }

  private startJob(userImageId: number): void {
    const job: JobRow = {
      id: this.store.nextId('job'),
      userImageId,
      queuedAt: nowMicros(),
      startedAt: null,
      endedAt: null,
      status: null,
      calibration: null,
      files: {},
    };
    this.store.state.jobs.push(job);
    this.store.saveInBackground();
    const ctl = new AbortController();
    const run: Run = { ctl, done: Promise.resolve() };
    this.running.set(job.id, run);
    run.done = this.track(
      this.runJob(job.id, ctl.signal)
        .catch((err: unknown) => {
          if (ctl.signal.aborted) return;
          this.opts.log(`job ${job.id}: solver error: ${(err as Error).message}`);
          const j = this.store.job(job.id);
          if (j && j.endedAt === null) {
            j.status = 'F';
            j.endedAt = nowMicros();
            this.store.saveInBackground();
          }
        })
        .finally(async () => {
          if (this.running.get(job.id) === run) this.running.delete(job.id);
          // A job deleted by a restart leaves its directory behind: clear it once quiet.
          if (!this.store.job(job.id)) await rm(this.store.jobDir(job.id), { recursive: true, force: true });
          this.kick();
        }),
    );
  }

  private async runJob(jobId: number, signal: AbortSignal): Promise<void> {
    const jobDir = this.store.jobDir(jobId);
    await mkdir(jobDir, { recursive: true });
    await abortableDelay(this.opts.queueMs, signal);
    const job = this.store.job(jobId);
    const ui = job && this.store.userImage(job.userImageId);
    const image = ui && this.store.image(ui.imageId);
    const sub = ui && this.store.submission(ui.submissionId);
    if (!job || !ui || !image || !sub) throw new Error('job lost its image');
    job.startedAt = nowMicros();
    await this.store.save();
    const outcome = await this.backend.solve({
      jobDir,
      inputPath: solverInputOf(this.store, image),
      kind: image.kind,
      originalFilename: ui.originalFilename,
      options: solverOptions(sub.options),
      signal,
    });
    const current = this.store.job(jobId);
    if (signal.aborted || current !== job) return;
    this.applyOutcome(job, outcome, jobDir);
    ui.tags = [...outcome.tags];
    ui.machineTags = [...outcome.machineTags];
    ui.objectsInField = [...outcome.objectsInField];
    await this.store.save();
  }

  private applyOutcome(job: JobRow, outcome: SolveOutcome, jobDir: string): void {
    const root = resolve(jobDir);
    const files: Record<string, string> = {};
    for (const [key, p] of Object.entries(outcome.files as Record<string, string | undefined>)) {
      if (typeof p !== 'string') continue;
      const rel = relative(root, resolve(root, p));
      // Only files inside the job directory are ever served.
      if (rel === '' || rel.startsWith('..') || rel.includes(`..${sep}`) || resolve(root, rel) !== resolve(root, p)) {
        this.opts.log(`job ${job.id}: ignoring result file outside the job directory (${key})`);
        continue;
      }
      files[key] = rel;
    }
    job.files = files;
    if (outcome.calibration) job.calibration = { id: this.store.nextId('calibration'), ...outcome.calibration };
    job.status = outcome.status === 'success' ? 'S' : 'F';
    if (outcome.status === 'failure' && outcome.failureReason) job.failureReason = outcome.failureReason;
    job.endedAt = nowMicros();
  }

  /**
   * nova's daily worker restart (and our own startup): submissions started but not finished are
   * reset, unfinished Job rows are deleted (their user images get new jobs under new ids).
   */
  restart(): void {
    for (const [, run] of this.ingesting) run.ctl.abort();
    this.ingesting.clear();
    for (const [, run] of this.running) run.ctl.abort();
    this.running.clear();
    const st = this.store.state;
    for (const sub of st.submissions) {
      if (sub.processingStarted !== null && sub.processingFinished === null) sub.processingStarted = null;
    }
    const dropped = st.jobs.filter((j) => j.endedAt === null);
    st.jobs = st.jobs.filter((j) => j.endedAt !== null);
    for (const j of dropped) {
      this.opts.log(`job ${j.id}: deleted by worker restart`);
      void rm(this.store.jobDir(j.id), { recursive: true, force: true });
    }
    this.store.saveInBackground();
    this.kick();
  }

  async close(graceMs = 5000): Promise<void> {
    this.closed = true;
    for (const run of [...this.ingesting.values(), ...this.running.values()]) run.ctl.abort();
    const all = Promise.allSettled([...this.inflight]);
    await Promise.race([all, new Promise((r) => setTimeout(r, graceMs).unref())]);
  }
}
