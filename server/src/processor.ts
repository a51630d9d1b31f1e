/**
 * The job runner: nova's `process_submissions.py` loop (docs/nova-protocol.md#job-runner), one per node.
 *
 * Submission → (processing_started) ingest → (processing_finished) UserImage without a job
 * (`jobs: [null]`) → when a solver slot frees, a Job (`processing`) → `solving` → done.
 * Work is claimed from the shared store with a lease the node keeps renewing. When a node
 * dies, its leases run out and any node hands the work back as nova's worker restart does:
 * the submission is ingested again, the unfinished job is deleted and comes back under a new
 * id. A node's writes are fenced by its id, so a node that lost its lease changes nothing.
 */
import { mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { relative, resolve, sep } from 'node:path';
import type { ProcessTracker, SolveOutcome, SolverBackend } from './solver-backend.js';
import { DISK_FULL_REASON, isDiskFull } from './disk-full.js';
import { exists, ingest, novaErrorMessage, solverInputOf, storeImage, type IngestResult } from './ingest.js';
import { solverOptions } from './parse-upload-options.js';
import { awaitGroupsGone, killGroup, processStartTicks, reapOrphans } from './reaper.js';
import { abortableDelay } from './solvers/simulated.js';
import type { ClaimedJob, IngestResultRow, ServerStore, SubmissionRow } from './store/server-store.js';
import type { UrlFetchLimits } from './url-fetch.js';

export interface ProcessorOptions {
  /** This node's id in the store (claims and process records carry it). */
  node: string;
  concurrency: number;
  ingestMs: number;
  queueMs: number;
  urlFetch: UrlFetchLimits;
  maxDecompressedBytes: number;
  /** Rows a source list may have (ingest fails past it). */
  maxSourceRows: number;
  /** How long a claim survives without renewal; renewed every third of it. */
  leaseMs: number;
  /** How often the store is asked for work other nodes accepted. */
  pollMs: number;
  log: (line: string) => void;
}

/** Microseconds since the epoch, the resolution of Django's DateTimeField. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

const INGEST_WORKERS = 4; // nova runs 4 submission workers
/** Waits before writing again to a store on a full disk. */
const DISK_FULL_RETRY_MS = [250, 500, 1000, 2000];

interface Run {
  ctl: AbortController;
  done: Promise<void>;
}

export class Processor {
  readonly node: string;
  readonly host = hostname();
  private readonly ingesting = new Map<number, Run>();
  private readonly running = new Map<number, Run>();
  /** Every in-flight promise, including ones orphaned by a restart, for close(). */
  private readonly inflight = new Set<Promise<void>>();
  /** Process-table writes, in order per pid (a fast exit must not be recorded before its start). */
  private processWrites = new Map<number, Promise<void>>();
  private pumping: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private timers: NodeJS.Timeout[] = [];
  /** Other nodes' lapsed leases are handed back only from then on (see heartbeat). */
  private judgeAfter = 0;

  constructor(
    private readonly store: ServerStore,
    private readonly backend: SolverBackend,
    private readonly opts: ProcessorOptions,
  ) {
    this.node = opts.node;
  }

  get activeSolves(): number {
    return this.running.size;
  }

  /**
   * Joins the cluster: registers this node, reaps solvers that dead nodes on this host left
   * behind, hands back every claim when asked (`restartAll`: a single-node store, where any
   * claim is a dead process's), and starts the heartbeat and the poll for work.
   */
  async start(restartAll: boolean): Promise<void> {
    await this.store.registerNode({ id: this.node, host: this.host, pid: process.pid, heartbeatAt: Date.now() });
    // Solvers go before their jobs: a job directory is deleted only once nothing writes there.
    await reapOrphans(this.store, this.host, this.node, this.opts.log);
    if (restartAll) await this.restart(true);
    // One heartbeat at a time: a slow one (a reaped solver taking its time to die) is not
    // overtaken by the next, which would hand that solver's jobs back while it still runs.
    let beating: Promise<void> | null = null;
    const beat = setInterval(() => {
      beating ??= this.track(this.heartbeat()).finally(() => (beating = null));
    }, Math.max(50, Math.floor(this.opts.leaseMs / 3)));
    const poll = setInterval(() => this.kick(), this.opts.pollMs);
    beat.unref();
    poll.unref();
    this.timers.push(beat, poll);
    this.kick();
  }

  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    const now = Date.now();
    try {
      await this.store.heartbeat(this.node, now);
    } finally {
      // A store that kept us waiting (its database restarting) kept every node from renewing:
      // nobody's lease is judged until all have had a lease period to renew again.
      if (Date.now() - now > this.opts.leaseMs / 6) this.judgeAfter = Date.now() + this.opts.leaseMs;
    }
    await this.store.renewLeases(this.node, Date.now() + this.opts.leaseMs, { jobs: [...this.running.keys()], submissions: [...this.ingesting.keys()] });
    if (Date.now() < this.judgeAfter) return;
    // Solvers of dead nodes go before their jobs are handed back (and their directories deleted).
    await reapOrphans(this.store, this.host, this.node, this.opts.log);
    const released = await this.store.releaseClaims({ nowMs: now });
    for (const id of released.jobs) {
      this.opts.log(`job ${id}: its node stopped renewing its lease; the job is re-created`);
      void rm(this.store.jobDir(id), { recursive: true, force: true });
    }
    if (released.submissions.length > 0) this.opts.log(`submission(s) ${released.submissions.join(', ')}: ingest handed back after a lost lease`);
    if (released.jobs.length + released.submissions.length > 0) this.kick();
  }

  kick(): void {
    if (this.closed) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = this.track(this.pump()).finally(() => {
      this.pumping = null;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private lease(): number {
    return Date.now() + this.opts.leaseMs;
  }

  private async pump(): Promise<void> {
    while (!this.closed && this.ingesting.size < INGEST_WORKERS) {
      const sub = await this.store.claimSubmission(this.node, nowMicros(), this.lease());
      if (!sub) break;
      this.startIngest(sub);
    }
    while (!this.closed && this.running.size < this.opts.concurrency) {
      const claimed = await this.store.claimJob(this.node, nowMicros(), this.lease());
      if (!claimed) break;
      this.startJob(claimed);
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
    const started = sub.processingStarted as number;
    const ctl = new AbortController();
    const run: Run = { ctl, done: Promise.resolve() };
    this.ingesting.set(sub.id, run);
    run.done = this.track(
      this.ingestOne(sub, started, ctl.signal)
        .catch((err: unknown) => {
          if (!ctl.signal.aborted) this.opts.log(`submission ${sub.id}: ingest crashed: ${(err as Error).message}`);
        })
        .finally(() => {
          if (this.ingesting.get(sub.id) === run) this.ingesting.delete(sub.id);
          this.kick();
        }),
    );
  }

  private async ingestOne(sub: SubmissionRow, started: number, signal: AbortSignal): Promise<void> {
    await abortableDelay(this.opts.ingestMs, signal);
    let result: IngestResult;
    try {
      result = await ingest(this.store, sub, {
        urlFetch: this.opts.urlFetch,
        maxDecompressedBytes: this.opts.maxDecompressedBytes,
        maxSourceRows: this.opts.maxSourceRows,
        signal,
      });
    } catch (err) {
      if (signal.aborted) return;
      if (isDiskFull(err)) this.opts.log(`submission ${sub.id}: disk full (ENOSPC) while ingesting: ${(err as Error).message}`);
      const error = isDiskFull(err) ? 'OSError: [Errno 28] No space left on device' : `Exception: ${(err as Error).message}`;
      result = { ok: false, error, originalFilename: sub.originalFilename };
    }
    if (signal.aborted) return;
    const row: IngestResultRow = { originalFilename: result.originalFilename, errorMessage: null, userImage: null };
    if (result.ok) {
      let image = await this.store.findImage(result.image.sha1, result.image.kind);
      if (image && !(await exists(solverInputOf(this.store, image)))) image = undefined;
      if (!image) {
        const id = await this.store.nextId('image');
        await storeImage(this.store, id, result.imagePath, result.image.kind, result.xy);
        if (signal.aborted) return;
        image = { id, createdAt: nowMicros(), ...result.image };
        await this.store.insertImage(image);
      }
      row.userImage = { imageId: image.id };
    } else {
      row.errorMessage = novaErrorMessage(sub.id, result.error);
      this.opts.log(`submission ${sub.id}: ingestion failed`);
    }
    // A restart, a lost lease or a deletion while we worked makes this run stale: dropped.
    const kept = await this.store.finishIngest(sub.id, this.node, started, row, nowMicros());
    if (kept) this.kick();
  }

  private startJob(claimed: ClaimedJob): void {
    const jobId = claimed.job.id;
    const ctl = new AbortController();
    const run: Run = { ctl, done: Promise.resolve() };
    this.running.set(jobId, run);
    run.done = this.track(
      this.runJob(claimed, ctl.signal)
        .catch(async (err: unknown) => {
          if (ctl.signal.aborted) return;
          // The store gave up waiting for its database: the claim lapses and the job reruns.
          if ((err as { code?: unknown })?.code === 'STORE_UNAVAILABLE') return this.opts.log(`job ${jobId}: ${(err as Error).message}`);
          const full = isDiskFull(err);
          this.opts.log(`job ${jobId}: ${full ? DISK_FULL_REASON : 'solver error'}: ${(err as Error).message}`);
          const failed = {
            status: 'F' as const,
            calibration: null,
            files: {},
            endedAt: nowMicros(),
            tags: [],
            machineTags: [],
            objectsInField: [],
            ...(full ? { failureReason: DISK_FULL_REASON } : {}),
          };
          await this.whenSpace(`job ${jobId}`, () => this.store.finishJob(jobId, this.node, failed));
        })
        .finally(async () => {
          if (this.running.get(jobId) === run) this.running.delete(jobId);
          // A job deleted by a restart leaves its directory behind: clear it once quiet.
          if (!(await this.store.job(jobId).catch(() => true))) await rm(this.store.jobDir(jobId), { recursive: true, force: true });
          this.kick();
        }),
    );
  }

  private processTracker(jobId: number): ProcessTracker {
    const chain = (pid: number, step: () => Promise<void>) => {
      // On a full disk the write waits for the space the failed solve frees, as every job write.
      const next = (this.processWrites.get(pid) ?? Promise.resolve()).then(() => this.whenSpace(`process table (pid ${pid})`, step)).catch((err: unknown) => {
        this.opts.log(`process table: ${(err as Error).message}`);
      });
      this.processWrites.set(pid, next);
      void next.finally(() => {
        if (this.processWrites.get(pid) === next) this.processWrites.delete(pid);
      });
    };
    return {
      started: (pid) => {
        const startTicks = processStartTicks(pid);
        chain(pid, () => this.store.recordProcess({ host: this.host, pid, node: this.node, startTicks, jobId }));
      },
      ended: (pid) => chain(pid, () => this.store.forgetProcess(this.host, pid)),
    };
  }

  private async runJob(claimed: ClaimedJob, signal: AbortSignal): Promise<void> {
    const { job, userImage: ui, image, submission: sub } = claimed;
    const jobDir = this.store.jobDir(job.id);
    await mkdir(jobDir, { recursive: true });
    await abortableDelay(this.opts.queueMs, signal);
    if (!(await this.store.startJob(job.id, this.node, nowMicros()))) return;
    const outcome: SolveOutcome = await this.backend.solve({
      jobDir,
      inputPath: solverInputOf(this.store, image),
      kind: image.kind,
      originalFilename: ui.originalFilename,
      options: solverOptions(sub.options),
      signal,
      processes: this.processTracker(job.id),
    });
    if (signal.aborted) return;
    if (outcome.failureReason === DISK_FULL_REASON) this.opts.log(`job ${job.id}: ${DISK_FULL_REASON}`);
    await this.whenSpace(`job ${job.id}`, () => this.store.finishJob(job.id, this.node, {
      status: outcome.status === 'success' ? 'S' : 'F',
      calibration: outcome.calibration ?? null,
      files: this.relativeFiles(job.id, outcome, jobDir),
      endedAt: nowMicros(),
      tags: [...outcome.tags],
      machineTags: [...outcome.machineTags],
      objectsInField: [...outcome.objectsInField],
      ...(outcome.status === 'failure' && outcome.failureReason ? { failureReason: outcome.failureReason } : {}),
    }));
  }

  /**
   * A store write that failed for a full disk (SQLite's "database or disk is full") is tried
   * again a few times: a failed solve frees its temporary files just after, and the record that
   * it failed (or that its solver is gone) matters more than anything else on that disk.
   */
  private async whenSpace<T>(what: string, write: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await write();
      } catch (err) {
        const wait = DISK_FULL_RETRY_MS[attempt];
        if (!isDiskFull(err) || wait === undefined) throw err;
        if (attempt === 0) this.opts.log(`${what}: disk full (${(err as Error).message}); trying again`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private relativeFiles(jobId: number, outcome: SolveOutcome, jobDir: string): Record<string, string> {
    const root = resolve(jobDir);
    const files: Record<string, string> = {};
    for (const [key, p] of Object.entries(outcome.files as Record<string, string | undefined>)) {
      if (typeof p !== 'string') continue;
      const rel = relative(root, resolve(root, p));
      // Only files inside the job directory are ever served.
      if (rel === '' || rel.startsWith('..') || rel.includes(`..${sep}`) || resolve(root, rel) !== resolve(root, p)) {
        this.opts.log(`job ${jobId}: ignoring result file outside the job directory (${key})`);
        continue;
      }
      files[key] = rel;
    }
    return files;
  }

  /**
   * nova's worker restart: this node's runs stop; submissions started but not finished are
   * reset and unfinished Job rows deleted (their user images get new jobs under new ids).
   * `everyone`: all claims in the store (a single-node store at start, or a test's restart).
   */
  async restart(everyone = true): Promise<void> {
    for (const [, run] of this.ingesting) run.ctl.abort();
    this.ingesting.clear();
    for (const [, run] of this.running) run.ctl.abort();
    this.running.clear();
    const released = await this.store.releaseClaims(everyone ? { nowMs: Date.now(), all: true } : { nowMs: Date.now(), node: this.node });
    for (const id of released.jobs) {
      this.opts.log(`job ${id}: deleted by worker restart`);
      void rm(this.store.jobDir(id), { recursive: true, force: true });
    }
    this.kick();
  }

  async close(graceMs = 5000): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const run of [...this.ingesting.values(), ...this.running.values()]) run.ctl.abort();
    const all = Promise.allSettled([...this.inflight]);
    await Promise.race([all, new Promise((r) => setTimeout(r, graceMs).unref())]);
    await Promise.allSettled([...this.processWrites.values()]);
    // A clean stop gives its work back at once instead of after the lease.
    try {
      // A solver that outlived its grace period goes now, not when the next node starts.
      const killed: number[] = [];
      for (const p of await this.store.processesOnHost(this.host)) {
        if (p.node !== this.node) continue;
        if (processStartTicks(p.pid) === p.startTicks && p.startTicks !== '') {
          killGroup(p.pid);
          killed.push(p.pid);
        }
        await this.store.forgetProcess(this.host, p.pid);
      }
      for (const g of await awaitGroupsGone(killed)) this.opts.log(`solver process group ${g} is still running 10 s after SIGKILL`);
      await this.store.releaseClaims({ nowMs: Date.now(), node: this.node });
      await this.store.forgetNode(this.node);
    } catch (err) {
      this.opts.log(`could not hand back this node's work: ${(err as Error).message}`);
    }
  }
}
