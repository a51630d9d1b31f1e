/**
 * One `solve` run over a locked `--out` folder: plans each input from the journal, drives the
 * batch (src/batch-driver.ts) with every solve's progress written to the journal and the live
 * view, writes each result as it settles, and ends with one summary and one exit code.
 *
 * Everything is keyed by the batch item id (`item-<index in the expanded input list>`), never
 * by completion order, so a result is always paired with its own input.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { BatchItem, SettledSolve } from '../../machines/batch.machine.js';
import type { ResultRequest, SolveMachineInput, SolveSnapshot } from '../../machines/solve.machine.js';
import { driveBatch, type BatchRun, type ItemProgress } from '../client/batch-driver.js';
import type { SerializedError } from '../errors.js';
import type { UploadDescriptor } from '../client/solve-input.js';
import type { Calibration } from '../protocol/models.js';
import type { SolveHints } from '../client/hints.js';
import { describeHints } from '../client/apply-hints.js';
import { imageCalibration } from '../client/local-extraction.js';
import { Wcs } from '../wcs/index.js';
import type { WireUploadOptions } from '../protocol/upload-options.js';
import type { FileResultKind } from '../protocol/result-kinds.js';
import type { Flags } from './args.js';
import type { Connection } from './connect.js';
import type { CliInput } from './expand-inputs.js';
import { EXIT, type CliIo } from './io.js';
import { Journal, journalKey, newEntry, planFor, TERMINAL_ERROR_CODES, type ActiveStage, type JournalEntry, type ResumePlan } from './journal.js';
import type { SolveJsonDocument, SolveJsonInput } from './json-schema.js';
import { isFitsFile, resultKindOf, writeOutputs, type OutputPlan } from './outputs.js';
import { formatDuration, type Progress } from './progress.js';
import { measureQuality, SUSPECT_MAX_RMS_PIXELS, SUSPECT_MIN_MATCHES, type SolveQuality } from '../client/quality.js';
import { cachedWcsFile, cacheEntry, knownServer } from '../client/solve-cache-entry.js';
import type { CachedSolve } from '../client/solve-cache.js';
import { ContentCache } from './content-cache.js';
import type { HduInputs } from './hdu-inputs.js';
import { maybeGunzip } from './gunzip.js';

const ACTIVE: readonly string[] = ['idle', 'loggingIn', 'uploading', 'submissionPending', 'jobRunning', 'fetchingResults'];

export interface SolveRunArgs {
  flags: Flags;
  io: CliIo;
  inputs: CliInput[];
  descriptors: Map<string, UploadDescriptor>;
  wire: WireUploadOptions;
  /** Per input, where --local-extraction set the image size. */
  wires: Map<string, WireUploadOptions>;
  plan: OutputPlan;
  outDir: string;
  connection: Connection;
  progress: Progress;
  concurrency: number;
  json: boolean;
  quiet: boolean;
  /** Answer inputs solved before from the solve cache (false with --no-cache). */
  useCache: boolean;
  /** With --hdu: which inputs are HDUs of a FITS file given, merged back into its solved copy. */
  hdus: HduInputs | null;
  /** `--sequence`: in order, one at a time, each input hinted by the solution before it. */
  sequence?: { strict: boolean };
}

interface Rec {
  id: string;
  input: CliInput;
  key: string;
  plan: ResumePlan;
  fits: boolean;
  entry: JournalEntry;
  requested: FileResultKind[];
  result: SolveJsonInput | null;
  /** The input's solve-cache key (content and options), when it has one. */
  cacheKey: string | null;
  /** Answered by the cache: its entry (the solve then uploads nothing). */
  cached: CachedSolve | null;
  /** The solved WCS file, once known (for merging an HDU's solution into its FITS file). */
  wcs: Uint8Array | null;
}

/** A report's fields; `fromCache` and `quality` default to false and null. */
type Report = Omit<SolveJsonInput, 'fromCache' | 'quality'> & Partial<Pick<SolveJsonInput, 'fromCache' | 'quality'>>;

/**
 * nova refuses a key with `{"status": "error", "errormessage": "bad apikey"}`, which the library
 * reports as an `api` error of the login; the CLI treats any failure of the login as an
 * authentication failure.
 */
export function isAuthFailure(error: { code: string; message: string }, stage: string): boolean {
  if (error.code === 'auth') return true;
  return error.code === 'api' && (stage === 'loggingIn' || /\bapikey\b/i.test(error.message));
}

function formatCalibration(c: Calibration | null): string {
  if (!c) return '';
  return `RA ${c.ra.toFixed(5)} Dec ${c.dec.toFixed(5)}  scale ${c.pixscale.toFixed(3)}"/px  orientation ${c.orientation.toFixed(2)}°  parity ${c.parity}`;
}

/** One line on a solution's quality, e.g. `20 stars matched, RMS 0.42", log-odds 133.5`, flagged when suspect. */
export function formatQuality(q: SolveQuality): string {
  const rms = q.rmsArcsec === null ? 'no RMS' : `RMS ${q.rmsArcsec.toFixed(2)}"`;
  const odds = q.logOdds === null ? '' : `, log-odds ${q.logOdds.toFixed(1)}`;
  const why = q.matchedStars < SUSPECT_MIN_MATCHES ? `fewer than ${SUSPECT_MIN_MATCHES} matches` : `RMS over ${SUSPECT_MAX_RMS_PIXELS} px`;
  return `${q.matchedStars} star${q.matchedStars === 1 ? '' : 's'} matched, ${rms}${odds}${q.suspect ? `  SUSPECT (${why})` : ''}`;
}

/** `  [hinted: position from OBJCTRA/OBJCTDEC (±10.0°), …]`, or nothing. */
function hintNote(hints: SolveHints | null): string {
  return hints ? `  [${describeHints(hints)}]` : '';
}

function ids(subid: number | null, jobId: number | null): string {
  const parts = [subid !== null ? `subid ${subid}` : '', jobId !== null ? `job ${jobId}` : ''].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** Runs the batch of one `solve` command; resolves with its exit code. */
export async function runSolveBatch(a: SolveRunArgs): Promise<number> {
  return new SolveRun(a).run();
}

class SolveRun {
  readonly #a: SolveRunArgs & { cache: ContentCache | null };
  readonly #journal: Journal;
  readonly #recs: Rec[];
  readonly #byId: Map<string, Rec>;
  readonly #started = Date.now();
  /** Inputs an earlier run left with an upload that may have arrived. */
  #interrupted = 0;
  #authError: SerializedError | null = null;
  /** Ctrl-C or SIGTERM stopped the run (exit 130). */
  #signalled = false;
  #batch: BatchRun | null = null;
  /** Inputs whose hinted solve failed and went again blind (said once each). */
  readonly #retried = new Set<string>();

  constructor(a: SolveRunArgs) {
    // A job id means something on its server only: the cache is scoped to the servers asked
    // (a --local server to its output folder, whose data it keeps).
    const scope = a.connection.local ? `local ${a.outDir}` : a.connection.serverId;
    this.#a = { ...a, cache: a.useCache ? new ContentCache(scope) : null };
    this.#journal = new Journal(a.outDir);
    this.#recs = this.#planRecords();
    this.#byId = new Map(this.#recs.map((r) => [r.id, r]));
  }

  async run(): Promise<number> {
    this.#reportEarlier();
    await this.#consultCache();
    const items = this.#batchItems();
    if (items.length > 0) {
      await this.#drive(items);
      this.#reportUnfinished(items);
    }
    this.#mergeHdus();
    return this.#finish();
  }

  #planRecords(): Rec[] {
    const a = this.#a;
    const journal = this.#journal;
    const reupload = a.flags.bool('reupload');
    const fileKinds = a.plan.kinds.map((k) => resultKindOf(k, a.plan));
    return a.inputs.map((input, index) => {
      const key = journalKey(`${a.connection.serverId} ${input.id}`, a.wire);
      // An HDU cut out of a FITS file is merged back into that file, not into its cut-out.
      const fits = input.kind === 'file' && !a.hdus?.origins.has(input.id) && isFitsFile(input.path);
      const wantedNames = [...a.plan.kinds.map((k) => k.name), ...(fits ? ['solvedFits'] : [])];
      const previous = journal.read(key);
      const plan = planFor(previous, {
        reupload,
        filesPresent: (files) => wantedNames.every((n) => files[n] !== undefined && existsSync(files[n] as string)),
      });
      // The WCS and corr files make the quality report (and the WCS the cache entry and the merged FITS).
      const requested = [...new Set<FileResultKind>([...fileKinds, 'wcs', 'corr'])];
      return {
        id: `item-${index}`,
        input,
        key,
        plan,
        fits,
        entry: previous ? { ...previous } : newEntry(key, input.id),
        requested,
        result: null,
        cacheKey: null,
        cached: null,
        wcs: null,
      };
    });
  }

  #report(rec: Rec, report: Report, note = ''): void {
    const a = this.#a;
    const result: SolveJsonInput = { ...report, fromCache: report.fromCache ?? false, quality: report.quality ?? null };
    rec.result = result;
    const { input } = rec;
    if (result.status === 'success') {
      if (!a.quiet) {
        const files = Object.values(result.files);
        const quality = result.quality ? `\n        quality: ${formatQuality(result.quality)}` : '';
        a.progress.result(
          `solved  ${input.label}  ${formatCalibration(result.calibration)}${ids(result.subid, result.jobId)}${note}${quality}${files.length ? `\n        → ${files.join(', ')}` : ''}`,
          a.json,
        );
      }
    } else {
      a.progress.result(`failed  ${input.label}  ${result.error?.code}: ${result.error?.message}${ids(result.subid, result.jobId)}${note}`, true);
    }
  }

  #writeJournal(rec: Rec, patch: Partial<JournalEntry>): void {
    rec.entry = { ...rec.entry, ...patch, updatedAt: new Date().toISOString() };
    this.#journal.write(rec.entry);
  }

  /** Inputs settled by an earlier run, or left with an upload that may have arrived. */
  #reportEarlier(): void {
  for (const rec of this.#recs) {
      if (rec.plan.action === 'skip') {
        const e = rec.plan.entry;
        this.#report(
          rec,
          {
            input: rec.input.label,
            subid: e.subid,
            jobId: e.jobId,
            status: e.outcome === 'success' ? 'success' : 'failure',
            calibration: e.calibration,
            files: e.files,
            error: e.error ? { code: e.error.code, message: e.error.message } : null,
            skipped: true,
            resumedFrom: null,
            quality: e.quality ?? null,
          },
          '  [done in an earlier run]',
        );
      } else if (rec.plan.action === 'interrupted') {
        this.#interrupted++;
        this.#report(rec, {
          input: rec.input.label,
          subid: null,
          jobId: null,
          status: 'failure',
          calibration: null,
          files: {},
          error: {
            code: 'upload_interrupted',
            message:
              'An earlier run stopped while uploading this input, so it may or may not be on the server. ' +
              'It was not uploaded again. Rerun with --reupload to upload it once more.',
          },
          skipped: false,
          resumedFrom: null,
        });
      }
    }
  }

  #batchItems(): BatchItem[] {
    const a = this.#a;
    const { session } = a.connection;
    const items: BatchItem[] = [];
    for (const rec of this.#recs) {
      const base: SolveMachineInput = {
        options: a.wires.get(rec.input.id) ?? a.wire,
        schedule: session.schedule,
        timeoutMs: session.timeoutMs,
        prefetch: rec.requested.map((kind): ResultRequest => ({ kind })),
      };
      if (rec.plan.action === 'upload') {
        items.push({ id: rec.id, input: { ...base, upload: a.descriptors.get(rec.input.id) as UploadDescriptor } });
        // A fresh start: nothing of an earlier run applies any more.
        rec.entry = newEntry(rec.key, rec.input.id);
      } else if (rec.plan.action === 'resumeJob' || rec.plan.action === 'resumeSubmission') {
        // Ids are asked of the server that has them (the cache's or the journal's), when this
        // run still has it; of the primary otherwise (an entry from before servers were recorded).
        const server = knownServer(rec.cached ? rec.cached.server : rec.entry.server, session.apiUrls);
        const resumeAt = rec.plan.action === 'resumeJob' ? { jobId: rec.plan.jobId } : { subid: rec.plan.subid };
        items.push({ id: rec.id, input: { ...base, ...resumeAt, ...(server ? { server } : {}) } });
      }
    }
    for (const item of items) a.progress.add(item.id, (this.#byId.get(item.id) as Rec).input.label);
    const resumedCount = items.filter((i) => i.input.upload === undefined).length;
    const skippedCount = this.#recs.filter((r) => r.plan.action === 'skip' && !r.cached).length;
    const cachedCount = this.#recs.filter((r) => r.cached).length;
    const resumedJobs = resumedCount - this.#recs.filter((r) => r.cached && r.plan.action === 'resumeJob').length;
    a.progress.info(
      `Solving ${items.length} input${items.length === 1 ? '' : 's'} on ${a.connection.description}, ${a.sequence ? 'in sequence, each hinted by the one before' : `${a.concurrency} at a time`}` +
        `${resumedJobs ? `; ${resumedJobs} resumed from an earlier run` : ''}${skippedCount ? `; ${skippedCount} done earlier` : ''}` +
        `${cachedCount ? `; ${cachedCount} answered from the solve cache (same content solved before: not uploaded)` : ''}.`,
    );
    return items;
  }

  async #drive(items: BatchItem[]): Promise<void> {
    const a = this.#a;
    const { session } = a.connection;
    const run = driveBatch({
      items,
      concurrency: a.concurrency,
      ...(a.sequence ? { sequence: a.sequence } : {}),
      solve: session.endingMachine,
      // The batch and every solve it runs report to the session's (sanitized) inspector.
      ...(session.inspect ? { inspect: session.inspect } : {}),
      onItem: (p, snapshot) => this.#observe(p, snapshot),
      onSettled: (item, snapshot) => {
        const rec = this.#byId.get(item.id);
        if (rec) this.#settle(rec, item, snapshot);
      },
    });
    this.#batch = run;
    // First Ctrl-C: the batch drains (uploads in flight reach a submission id, nothing new
    // starts, then the rest is cancelled); a second one stops it at once.
    const onSignal = () => {
      const batch = run.progress();
      if (batch.state === 'running' && !this.#authError) {
        this.#signalled = true;
        const inFlight = batch.uploading;
        if (inFlight === 0) {
          a.progress.error('Stopping: cancelling the solves in flight. Rerun the same command to resume.');
        } else {
          a.progress.error(
            `Stopping after ${inFlight} upload${inFlight === 1 ? '' : 's'} in flight reach${inFlight === 1 ? 'es' : ''} the server (press Ctrl-C again to stop at once). Rerun the same command to resume.`,
          );
        }
        run.drain('uploaded');
      } else if (batch.state === 'draining') {
        a.progress.error('Stopping now: uploads still in flight will be reported as upload_interrupted.');
        run.stop('Not finished: the run was stopped.');
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await run.done;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  #observe(p: ItemProgress, snapshot: SolveSnapshot): void {
    const a = this.#a;
    const rec = this.#byId.get(p.id);
    // A settled solve is reported by `settle`.
    if (!rec || rec.result || p.settled) return;
    if (p.hints?.retryOf && !this.#retried.has(rec.id)) {
      this.#retried.add(rec.id);
      a.progress.info(`${rec.input.label}: ${describeHints(p.hints)}; uploading it once more with no hint.`);
    }
    a.progress.update(rec.id, p.state, p);
    const top = p.stage;
    const subid = p.subid ?? rec.entry.subid;
    const jobId = p.jobId ?? (p.subid === null ? rec.entry.jobId : null);
    const stage = ACTIVE.includes(top) ? (top as ActiveStage) : rec.entry.stage;
    const server = snapshot.context.server;
    if (rec.entry.state.split('.')[0] === top && rec.entry.subid === subid && rec.entry.jobId === jobId && rec.entry.server === server) return;
    // Synchronous and atomic: `uploading` is on disk before the upload request can leave.
    this.#writeJournal(rec, {
      state: top,
      stage,
      subid,
      jobId,
      server,
      done: false,
      outcome: null,
      // As serialized in the machine (the view's is revived).
      error: snapshot.context.error,
      calibration: p.calibration ?? rec.entry.calibration,
    });
  }

  #settle(rec: Rec, view: ItemProgress, snapshot: SettledSolve): void {
    const a = this.#a;
    const { context } = snapshot;
    const outcome = view.phase === 'success' ? 'success' : 'failure';
    const resumedFrom = rec.plan.action === 'resumeJob' ? 'job' : rec.plan.action === 'resumeSubmission' ? 'submission' : null;
    const subid = view.subid ?? rec.entry.subid;
    const jobId = view.jobId;
    a.progress.settle(rec.id, outcome);
    if (outcome === 'success') {
      const { files, warnings } = writeOutputs({
        outDir: a.outDir,
        stem: rec.input.stem,
        plan: a.plan,
        fetched: view.files,
        ...(rec.fits && rec.input.kind === 'file' ? { fitsInputPath: rec.input.path } : {}),
        jobId,
      });
      for (const [key, err] of Object.entries(context.resultErrors)) warnings.push(`Could not fetch the ${key} file of ${rec.input.label}: ${err.message}`);
      const calibration = this.#imageCalibration(rec, view);
      rec.wcs = view.files.wcs?.bytes ?? null;
      const quality = rec.cached?.quality ?? this.#quality(rec, view.files, calibration, warnings);
      for (const w of warnings) a.progress.error(`warning: ${w}`);
      this.#writeJournal(rec, {
        state: 'success',
        subid,
        jobId,
        server: context.server,
        done: warnings.length === 0,
        outcome: 'success',
        error: null,
        calibration,
        files,
        quality,
      });
      // An upload's solve is kept by content, for the next copy of this file.
      if (a.cache && rec.cacheKey !== null && !rec.cached && calibration && subid !== null && jobId !== null) {
        const server = snapshot.context.server ?? a.connection.session.apiUrl;
        const failed = a.cache.set(rec.cacheKey, cacheEntry({ server, subid, jobId, calibration, hash: view.hash, wcs: view.files.wcs, quality }));
        if (failed) a.progress.error(`warning: ${failed}`);
      }
      const fromCache = rec.cached !== null;
      this.#report(
        rec,
        { input: rec.input.label, subid, jobId, status: 'success', calibration, files, error: null, skipped: false, resumedFrom: fromCache ? null : resumedFrom, fromCache, quality, hints: view.hints },
        fromCache ? `  [from the cache: solved before as job ${rec.cached?.jobId}; not uploaded]` : hintNote(view.hints),
      );
      return;
    }
    let error: SerializedError = context.error ?? { name: 'Error', code: 'api', message: 'The solve failed.' };
    if (isAuthFailure(error, rec.entry.stage)) error = { ...error, code: 'auth' };
    this.#writeJournal(rec, {
      state: 'failure',
      subid,
      jobId,
      server: context.server,
      done: TERMINAL_ERROR_CODES.has(error.code),
      outcome: 'failure',
      error,
    });
    this.#report(rec, {
      input: rec.input.label,
      subid,
      jobId,
      status: 'failure',
      calibration: null,
      files: {},
      error: { code: error.code, message: error.message },
      skipped: false,
      resumedFrom,
      hints: view.hints,
    }, hintNote(view.hints));
    if (error.code === 'auth' && !this.#authError) {
      // A refused key fails every input the same way: stop instead of logging in N times.
      this.#authError = error;
      this.#batch?.stop('Not attempted: the server refused the API key.');
    }
  }

  /** The quality report from the fetched corr and WCS files; null (with a warning) when they cannot make one. */
  #quality(rec: Rec, files: ItemProgress['files'], calibration: Calibration | null, warnings: string[]): SolveQuality | null {
    if (!files.corr || !calibration) return null;
    try {
      return measureQuality(maybeGunzip(files.corr.bytes), files.wcs ? maybeGunzip(files.wcs.bytes) : null, calibration.pixscale);
    } catch (error) {
      warnings.push(`Could not measure the quality of ${rec.input.label}'s solution: ${(error as Error).message}`);
      return null;
    }
  }

  /**
   * Inputs to upload whose content the cache has solved before, with the same options: answered
   * from the cache with no request when it holds every file asked for (the WCS), else picked up
   * by job id (no upload) for the other files.
   */
  async #consultCache(): Promise<void> {
    const a = this.#a;
    if (!a.cache) return;
    for (const rec of this.#recs) {
      if (rec.plan.action !== 'upload') continue;
      const descriptor = a.descriptors.get(rec.input.id);
      if (!descriptor) continue;
      try {
        rec.cacheKey = await a.cache.keyOf(descriptor, a.wires.get(rec.input.id) ?? a.wire);
      } catch {
        continue; // unreadable now: the upload will say why
      }
      const hit = rec.cacheKey === null ? undefined : await a.cache.get(rec.cacheKey);
      if (!hit) continue;
      rec.cached = hit;
      const wcs = cachedWcsFile(hit);
      const onlyWcs = a.plan.kinds.every((k) => k.name === 'wcs');
      if (wcs && onlyWcs && hit.quality) {
        this.#answerFromCache(rec, hit, wcs);
      } else {
        const entry = { ...rec.entry, subid: hit.subid, jobId: hit.jobId };
        rec.plan = { action: 'resumeJob', jobId: hit.jobId, entry };
        rec.entry = entry;
      }
    }
  }

  /** Writes a cached solve's files and reports it: no request at all. */
  #answerFromCache(rec: Rec, hit: CachedSolve, wcs: NonNullable<ReturnType<typeof cachedWcsFile>>): void {
    const a = this.#a;
    const { files, warnings } = writeOutputs({
      outDir: a.outDir,
      stem: rec.input.stem,
      plan: a.plan,
      fetched: { wcs },
      ...(rec.fits && rec.input.kind === 'file' ? { fitsInputPath: rec.input.path } : {}),
      jobId: hit.jobId,
    });
    for (const w of warnings) a.progress.error(`warning: ${w}`);
    rec.wcs = wcs.bytes;
    this.#writeJournal(rec, {
      state: 'success',
      stage: rec.entry.stage,
      subid: hit.subid,
      jobId: hit.jobId,
      done: warnings.length === 0,
      outcome: 'success',
      error: null,
      calibration: hit.calibration,
      files,
      quality: hit.quality,
    });
    rec.plan = { action: 'skip', entry: rec.entry };
    this.#report(
      rec,
      { input: rec.input.label, subid: hit.subid, jobId: hit.jobId, status: 'success', calibration: hit.calibration, files, error: null, skipped: false, resumedFrom: null, fromCache: true, quality: hit.quality },
      `  [from the cache: solved before as job ${hit.jobId}; not uploaded]`,
    );
  }

  /** With --hdu: each FITS file given, copied with every solved HDU's own WCS in its header. */
  #mergeHdus(): void {
    const a = this.#a;
    if (!a.hdus) return;
    const byId = new Map(this.#recs.map((r) => [r.input.id, r]));
    const wcsOf = (id: string): Uint8Array | null => {
      const rec = byId.get(id);
      if (!rec || rec.result?.status !== 'success') return null;
      if (rec.wcs) return rec.wcs;
      // Solved in an earlier run: its WCS file is on disk.
      const path = rec.result.files.wcs;
      return path && existsSync(path) ? readFileSync(path) : null;
    };
    const { written, warnings } = a.hdus.writeMerged(a.outDir, wcsOf);
    for (const w of warnings) a.progress.error(`warning: ${w}`);
    for (const [id, path] of written) {
      const rec = byId.get(id);
      if (rec?.result) rec.result.files = { ...rec.result.files, solvedFits: path };
    }
    for (const path of new Set(written.values())) if (!a.quiet) a.progress.result(`merged  ${path}: each solved HDU carries its own WCS`, a.json);
  }

  /**
   * The calibration to report. With --local-extraction the server saw only the stars, and
   * centred its calibration on their extent: the image's comes from the WCS over its own size.
   */
  #imageCalibration(rec: Rec, view: ItemProgress): Calibration | null {
    const wire = this.#a.wires.get(rec.input.id);
    const wcsFile = view.files.wcs;
    if (!view.calibration || !wcsFile || !this.#a.flags.bool('local-extraction') || typeof wire?.image_width !== 'number' || typeof wire.image_height !== 'number') {
      return view.calibration;
    }
    try {
      return imageCalibration(view.calibration, Wcs.fromFits(wcsFile.bytes), wire.image_width, wire.image_height);
    } catch {
      return view.calibration;
    }
  }

  /** Items the batch never settled: not started, or stopped. */
  #reportUnfinished(items: BatchItem[]): void {
    const a = this.#a;
    const inBatch = new Set(items.map((i) => i.id));
    for (const rec of this.#recs) {
      if (rec.result) continue;
      if (!inBatch.has(rec.id)) continue;
      a.progress.settle(rec.id, 'failure');
      const why = this.#authError ? 'Not attempted: the server refused the API key.' : 'Not finished: the run was stopped.';
      this.#report(rec, {
        input: rec.input.label,
        subid: rec.entry.subid,
        jobId: rec.entry.jobId,
        status: 'failure',
        calibration: null,
        files: {},
        error: { code: 'aborted', message: why },
        skipped: false,
        resumedFrom: null,
      });
    }
  }

  #finish(): number {
    const a = this.#a;
    const authError = this.#authError;
    a.progress.stop();
    const results = this.#recs.map((r) => r.result as SolveJsonInput);
    const solved = results.filter((r) => r.status === 'success').length;
    const failed = results.length - solved;
    const doc: SolveJsonDocument = { inputs: results, summary: { total: results.length, solved, failed } };
    const took = formatDuration(Date.now() - this.#started);
    if (a.json) {
      a.io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      a.progress.summary(a.io.stderr, results.length, solved, failed, took);
    } else {
      a.progress.summary(a.io.stdout, results.length, solved, failed, took);
    }

    if (authError) {
      a.io.stderr.write(
        `astrometry-net: authentication failed: ${(authError as SerializedError).message}\n` +
          'Check --api-key, the ASTROMETRY_API_KEY variable or the key file; find your key at https://nova.astrometry.net/api_help.\n',
      );
      return EXIT.auth;
    }
    if (this.#signalled) return EXIT.interrupted;
    if (failed > 0) {
      const hints = [`${failed} of ${results.length} input${results.length === 1 ? '' : 's'} failed (listed above).`];
      if (this.#interrupted > 0 || results.some((r) => r.error?.code === 'upload_interrupted')) {
        hints.push('Inputs marked upload_interrupted were not uploaded again: rerun with --reupload to upload them once more.');
      }
      if (results.some((r) => r.status === 'failure' && r.error && !TERMINAL_ERROR_CODES.has(r.error.code) && r.error.code !== 'upload_interrupted')) {
        hints.push('Rerun the same command to retry: solved inputs are skipped, and inputs with a submission or job resume from it.');
      }
      a.io.stderr.write(`${hints.join('\n')}\n`);
      return EXIT.failed;
    }
    return EXIT.ok;
  }
}
