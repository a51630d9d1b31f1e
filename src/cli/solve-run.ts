/**
 * One `solve` run over a locked `--out` folder: plans each input from the journal, drives the
 * batch (src/batch-driver.ts) with every solve's progress written to the journal and the live
 * view, writes each result as it settles, and ends with one summary and one exit code.
 *
 * Everything is keyed by the batch item id (`item-<index in the expanded input list>`), never
 * by completion order, so a result is always paired with its own input.
 */
import { existsSync } from 'node:fs';
import type { BatchItem } from '../../machines/batch.machine.js';
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
}

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
  readonly #a: SolveRunArgs;
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
    this.#a = a;
    this.#journal = new Journal(a.outDir);
    this.#recs = this.#planRecords();
    this.#byId = new Map(this.#recs.map((r) => [r.id, r]));
  }

  async run(): Promise<number> {
    this.#reportEarlier();
    const items = this.#batchItems();
    if (items.length > 0) {
      await this.#drive(items);
      this.#reportUnfinished(items);
    }
    return this.#finish();
  }

  #planRecords(): Rec[] {
    const a = this.#a;
    const journal = this.#journal;
    const reupload = a.flags.bool('reupload');
    const fileKinds = a.plan.kinds.map((k) => resultKindOf(k, a.plan));
    return a.inputs.map((input, index) => {
      const key = journalKey(`${a.connection.serverId} ${input.id}`, a.wire);
      const fits = input.kind === 'file' && isFitsFile(input.path);
      const wantedNames = [...a.plan.kinds.map((k) => k.name), ...(fits ? ['solvedFits'] : [])];
      const previous = journal.read(key);
      const plan = planFor(previous, {
        reupload,
        filesPresent: (files) => wantedNames.every((n) => files[n] !== undefined && existsSync(files[n] as string)),
      });
      // The WCS: merged into a FITS input, and with --local-extraction the image's calibration (below).
      const wantsWcs = fits || (a.flags.bool('local-extraction') && input.kind === 'file');
      const requested = [...new Set<FileResultKind>([...fileKinds, ...(wantsWcs ? (['wcs'] as FileResultKind[]) : [])])];
      return {
        id: `item-${index}`,
        input,
        key,
        plan,
        fits,
        entry: previous ? { ...previous } : newEntry(key, input.id),
        requested,
        result: null,
      };
    });
  }

  #report(rec: Rec, result: SolveJsonInput, note = ''): void {
    const a = this.#a;
    rec.result = result;
    const { input } = rec;
    if (result.status === 'success') {
      if (!a.quiet) {
        const files = Object.values(result.files);
        a.progress.result(
          `solved  ${input.label}  ${formatCalibration(result.calibration)}${ids(result.subid, result.jobId)}${note}${files.length ? `\n        → ${files.join(', ')}` : ''}`,
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
      } else if (rec.plan.action === 'resumeJob') {
        items.push({ id: rec.id, input: { ...base, jobId: rec.plan.jobId } });
      } else if (rec.plan.action === 'resumeSubmission') {
        items.push({ id: rec.id, input: { ...base, subid: rec.plan.subid } });
      }
    }
    for (const item of items) a.progress.add(item.id, (this.#byId.get(item.id) as Rec).input.label);
    const resumedCount = items.filter((i) => i.input.upload === undefined).length;
    const skippedCount = this.#recs.filter((r) => r.plan.action === 'skip').length;
    a.progress.info(
      `Solving ${items.length} input${items.length === 1 ? '' : 's'} on ${a.connection.description}, ${a.sequence ? 'in sequence, each hinted by the one before' : `${a.concurrency} at a time`}` +
        `${resumedCount ? `; ${resumedCount} resumed from an earlier run` : ''}${skippedCount ? `; ${skippedCount} done earlier` : ''}.`,
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
      solve: session.machine,
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
    if (rec.entry.state.split('.')[0] === top && rec.entry.subid === subid && rec.entry.jobId === jobId) return;
    // Synchronous and atomic: `uploading` is on disk before the upload request can leave.
    this.#writeJournal(rec, {
      state: top,
      stage,
      subid,
      jobId,
      done: false,
      outcome: null,
      // As serialized in the machine (the view's is revived).
      error: snapshot.context.error,
      calibration: p.calibration ?? rec.entry.calibration,
    });
  }

  #settle(rec: Rec, view: ItemProgress, snapshot: SolveSnapshot): void {
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
      for (const w of warnings) a.progress.error(`warning: ${w}`);
      const calibration = this.#imageCalibration(rec, view);
      this.#writeJournal(rec, {
        state: 'success',
        subid,
        jobId,
        done: warnings.length === 0,
        outcome: 'success',
        error: null,
        calibration,
        files,
      });
      this.#report(rec, { input: rec.input.label, subid, jobId, status: 'success', calibration, files, error: null, skipped: false, resumedFrom, hints: view.hints }, hintNote(view.hints));
      return;
    }
    let error: SerializedError = context.error ?? { name: 'Error', code: 'api', message: 'The solve failed.' };
    if (isAuthFailure(error, rec.entry.stage)) error = { ...error, code: 'auth' };
    this.#writeJournal(rec, {
      state: 'failure',
      subid,
      jobId,
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
