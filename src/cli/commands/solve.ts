/**
 * `astrometry-net solve INPUT...`: every input through the batch machine, a bounded pool of
 * solve statecharts, with results written and reported as each settles, a journal for resume,
 * and one exit code for the lot.
 *
 * Everything is keyed by the batch item id (`item-<index in the expanded input list>`), never
 * by completion order, so a result is always paired with its own input.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createActor, toPromise } from 'xstate';
import { batchMachine, type BatchItem } from '../../../machines/batch.machine.js';
import type { ResultRequest, SolveActor, SolveContext, SolveMachineInput, SolveSnapshot } from '../../../machines/solve.machine.js';
import type { SerializedError } from '../../errors.js';
import type { Calibration } from '../../models.js';
import { stateName } from '../../solve-handle.js';
import { describeInput, type SolveInput, type UploadDescriptor } from '../../inputs.js';
import { extractForUpload } from '../local-extraction.js';
import type { WireUploadOptions } from '../../options.js';
import type { FileResultKind } from '../../protocol/results.js';
import { Flags, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { connect, CONNECTION_FLAGS, startInspector, type CliInspector, type Connection } from '../connect.js';
import { SOLVE_HELP } from '../help.js';
import { resolveInputs, type CliInput } from '../inputs.js';
import { COMMON_FLAGS, EXIT, type CliIo } from '../io.js';
import {
  Journal,
  journalKey,
  newEntry,
  planFor,
  TERMINAL_ERROR_CODES,
  type ActivePhase,
  type JournalEntry,
  type ResumePlan,
} from '../journal.js';
import type { SolveJsonDocument, SolveJsonInput } from '../json-schema.js';
import { isFitsFile, outputPlan, OUTPUT_FLAGS, resultKindOf, writeOutputs, type OutputPlan } from '../outputs.js';
import { formatDuration, Progress } from '../progress.js';
import { UPLOAD_FLAGS, uploadOptionsFromFlags } from '../upload-flags.js';

export const SOLVE_FLAGS: readonly FlagSpec[] = [
  ...COMMON_FLAGS,
  ...CONNECTION_FLAGS,
  ...UPLOAD_FLAGS,
  ...OUTPUT_FLAGS,
  { name: 'source-list', type: 'string', multiple: true },
  { name: 'concurrency', type: 'string', short: 'j' },
  { name: 'reupload', type: 'boolean' },
  { name: 'inspect', type: 'boolean' },
  { name: 'local-extraction', type: 'boolean' },
];

const ACTIVE: readonly string[] = ['idle', 'loggingIn', 'uploading', 'submissionPending', 'jobRunning', 'fetchingResults'];

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
export function isAuthFailure(error: { code: string; message: string }, phase: string): boolean {
  if (error.code === 'auth') return true;
  return error.code === 'api' && (phase === 'loggingIn' || /\bapikey\b/i.test(error.message));
}

function formatCalibration(c: Calibration | null): string {
  if (!c) return '';
  return `RA ${c.ra.toFixed(5)} Dec ${c.dec.toFixed(5)}  scale ${c.pixscale.toFixed(3)}"/px  orientation ${c.orientation.toFixed(2)}°  parity ${c.parity}`;
}

function ids(subid: number | null, jobId: number | null): string {
  const parts = [subid !== null ? `subid ${subid}` : '', jobId !== null ? `job ${jobId}` : ''].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export async function runSolve(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseArgs(argv, SOLVE_FLAGS, 'solve'));
  if (flags.bool('help')) {
    io.stdout.write(SOLVE_HELP);
    return EXIT.ok;
  }
  const quiet = flags.bool('quiet');
  const verbose = flags.bool('verbose');
  const json = flags.bool('json');
  if (quiet && verbose) throw new UsageError('--quiet and --verbose contradict each other: give one.');
  const concurrency = flags.positiveInt('concurrency', 2);
  const { wire } = uploadOptionsFromFlags(flags);
  const plan = outputPlan(flags);
  const inputs = resolveInputs(flags.parsed.positionals, flags.list('source-list'), io.cwd);
  if (inputs.length === 0) {
    throw new UsageError('Nothing to solve: give image files, directories, globs or URLs, or --source-list FILE.', 'Example: astrometry-net solve image.fits --out results/');
  }
  const outDir = resolve(io.cwd, flags.string('out') ?? '.');
  // The library's Node entry (platform, transport) is loaded only now: usage errors above
  // need none of it.
  await import('../../index.js');
  // Describe every input before any request: a bad URL or source list stops here with exit 2.
  const descriptors = new Map<string, UploadDescriptor>();
  const scratch = new Map();
  const wires = new Map<string, WireUploadOptions>();
  for (const input of inputs) {
    let source: SolveInput =
      input.kind === 'file' ? { file: input.path } : input.kind === 'url' ? { url: input.url } : { sourceList: { x: input.x, y: input.y } };
    if (flags.bool('local-extraction') && input.kind === 'url') {
      throw new UsageError(`--local-extraction needs the image here, but ${input.label} is a URL the server would fetch.`, 'Download it first, or drop --local-extraction.');
    }
    if (flags.bool('local-extraction') && input.kind === 'file') {
      const local = await extractForUpload(input.path, wire);
      source = local.source;
      wires.set(input.id, local.wire);
    }
    descriptors.set(input.id, describeInput(source, scratch));
  }

  // The inspector's page replays what happened before it was opened, so the solve need not wait.
  let inspector: CliInspector | undefined;
  if (flags.bool('inspect')) {
    inspector = await startInspector();
    io.stderr.write(`Inspector: open ${inspector.url} in a browser to watch the statecharts (served while this command runs).\n`);
  }
  const progress = new Progress({ stderr: io.stderr, stdout: io.stdout, quiet, verbose, concurrency });
  let connection: Connection;
  try {
    connection = await connect(flags, {
      outDir,
      ...(verbose ? { onRequest: (e: { method: string; url: string }) => progress.request(e.method, e.url) } : {}),
      ...(inspector ? { inspect: inspector.inspect } : {}),
    });
  } catch (error) {
    progress.stop();
    await inspector?.stop();
    throw error;
  }
  try {
    return await runBatch({ flags, io, inputs, descriptors, wire, wires, plan, outDir, connection, progress, concurrency, json, quiet });
  } finally {
    progress.stop();
    await connection.close();
    await inspector?.stop();
  }
}

interface BatchArgs {
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
}

async function runBatch(a: BatchArgs): Promise<number> {
  const { session } = a.connection;
  const journal = new Journal(a.outDir);
  const reupload = a.flags.bool('reupload');
  const started = Date.now();
  const fileKinds = a.plan.kinds.map((k) => resultKindOf(k, a.plan));

  const recs: Rec[] = a.inputs.map((input, index) => {
    const key = journalKey(`${a.connection.serverId} ${input.id}`, a.wire);
    const fits = input.kind === 'file' && isFitsFile(input.path);
    const wantedNames = [...a.plan.kinds.map((k) => k.name), ...(fits ? ['solvedFits'] : [])];
    const previous = journal.read(key);
    const plan = planFor(previous, {
      reupload,
      filesPresent: (files) => wantedNames.every((n) => files[n] !== undefined && existsSync(files[n] as string)),
    });
    const requested = [...new Set<FileResultKind>([...fileKinds, ...(fits ? (['wcs'] as FileResultKind[]) : [])])];
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
  const byId = new Map(recs.map((r) => [r.id, r]));

  const report = (rec: Rec, result: SolveJsonInput, note = '') => {
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
  };

  const writeJournal = (rec: Rec, patch: Partial<JournalEntry>) => {
    rec.entry = { ...rec.entry, ...patch, updatedAt: new Date().toISOString() };
    journal.write(rec.entry);
  };

  // Inputs settled by an earlier run, or left with an upload that may have arrived.
  let interrupted = 0;
  for (const rec of recs) {
    if (rec.plan.action === 'skip') {
      const e = rec.plan.entry;
      report(
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
      interrupted++;
      report(rec, {
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

  const items: BatchItem[] = [];
  for (const rec of recs) {
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
  for (const item of items) a.progress.add(item.id, (byId.get(item.id) as Rec).input.label);
  const resumedCount = items.filter((i) => i.input.upload === undefined).length;
  const skippedCount = recs.filter((r) => r.plan.action === 'skip').length;
  a.progress.info(
    `Solving ${items.length} input${items.length === 1 ? '' : 's'} on ${a.connection.description}, ${a.concurrency} at a time` +
      `${resumedCount ? `; ${resumedCount} resumed from an earlier run` : ''}${skippedCount ? `; ${skippedCount} done earlier` : ''}.`,
  );

  let authError: SerializedError | null = null;
  let stopping = false;

  if (items.length > 0) {
    const actor = createActor(batchMachine.provide({ actors: { solve: session.machine } }), {
      input: { items, concurrency: a.concurrency },
      // The batch and every solve it runs report to the session's (sanitized) inspector.
      ...(session.inspect ? { inspect: session.inspect } : {}),
    });

    /** Children alive now, by item id. */
    const live = new Map<string, SolveActor>();
    /** First Ctrl-C: let uploads in flight reach a submission id, start nothing new, then stop. */
    let draining = false;
    let cancelled = false;
    const cancelBatch = () => {
      if (cancelled) return;
      cancelled = true;
      // Not from inside an actor's own notification.
      queueMicrotask(() => actor.send({ type: 'CANCEL' }));
    };
    const uploadsInFlight = () => [...live.values()].filter((c) => c.getSnapshot().matches('uploading')).length;

    const observe = (rec: Rec, s: SolveSnapshot) => {
      // The batch announces a settled child before the child's own observers hear of it.
      if (rec.result) return;
      const state = stateName(s.value as never);
      const top = state.split('.')[0] as string;
      const c = s.context;
      a.progress.update(rec.id, state, { uploadProgress: c.uploadProgress, subid: c.subid, jobId: c.jobId });
      const subid = c.subid ?? rec.entry.subid;
      const jobId = c.jobId ?? (c.subid === null ? rec.entry.jobId : null);
      const phase = ACTIVE.includes(top) ? (top as ActivePhase) : rec.entry.phase;
      if (rec.entry.state.split('.')[0] === top && rec.entry.subid === subid && rec.entry.jobId === jobId) return;
      // Synchronous and atomic: `uploading` is on disk before the upload request can leave.
      writeJournal(rec, {
        state: top,
        phase,
        subid,
        jobId,
        done: false,
        outcome: top === 'success' ? 'success' : top === 'failure' ? 'failure' : null,
        error: c.error,
        calibration: c.results.calibration ?? rec.entry.calibration,
      });
      if (draining && uploadsInFlight() === 0) cancelBatch();
    };

    actor.on('itemStarted', ({ id }) => {
      const rec = byId.get(id);
      const child = actor.getSnapshot().children[id] as SolveActor | undefined;
      if (!rec || !child) return;
      if (draining) {
        // Stopping: this one's upload has not left yet (its actor awaits the session first),
        // so it is cancelled before it can, and stays queued for the next run.
        child.send({ type: 'CANCEL', reason: 'The run was stopped before this input started.' });
        return;
      }
      live.set(id, child);
      observe(rec, child.getSnapshot());
      child.subscribe({ next: (s) => observe(rec, s), error: () => undefined });
    });

    actor.on('itemSettled', ({ id, summary, context }) => {
      const rec = byId.get(id);
      if (!rec) return;
      settle(rec, summary.outcome, context);
    });

    const settle = (rec: Rec, outcome: 'success' | 'failure', context: SolveContext) => {
      live.delete(rec.id);
      const resumedFrom = rec.plan.action === 'resumeJob' ? 'job' : rec.plan.action === 'resumeSubmission' ? 'submission' : null;
      const subid = context.subid ?? rec.entry.subid;
      const jobId = context.jobId;
      a.progress.settle(rec.id, outcome);
      if (outcome === 'success') {
        const { files, warnings } = writeOutputs({
          outDir: a.outDir,
          stem: rec.input.stem,
          plan: a.plan,
          fetched: context.results.files ?? {},
          ...(rec.fits && rec.input.kind === 'file' ? { fitsInputPath: rec.input.path } : {}),
          jobId,
        });
        for (const [key, err] of Object.entries(context.resultErrors)) warnings.push(`Could not fetch the ${key} file of ${rec.input.label}: ${err.message}`);
        for (const w of warnings) a.progress.error(`warning: ${w}`);
        const calibration = context.results.calibration ?? null;
        writeJournal(rec, {
          state: 'success',
          subid,
          jobId,
          done: warnings.length === 0,
          outcome: 'success',
          error: null,
          calibration,
          files,
        });
        report(rec, { input: rec.input.label, subid, jobId, status: 'success', calibration, files, error: null, skipped: false, resumedFrom });
        return;
      }
      let error: SerializedError = context.error ?? { name: 'Error', code: 'api', message: 'The solve failed.' };
      if (isAuthFailure(error, rec.entry.phase)) error = { ...error, code: 'auth' };
      writeJournal(rec, {
        state: 'failure',
        subid,
        jobId,
        done: TERMINAL_ERROR_CODES.has(error.code),
        outcome: 'failure',
        error,
      });
      report(rec, {
        input: rec.input.label,
        subid,
        jobId,
        status: 'failure',
        calibration: null,
        files: {},
        error: { code: error.code, message: error.message },
        skipped: false,
        resumedFrom,
      });
      if (error.code === 'auth' && !authError) {
        // A refused key fails every input the same way: stop instead of logging in N times.
        authError = error;
        stopping = true;
        cancelBatch();
      }
    };

    const onSignal = () => {
      if (stopping && !draining) return;
      if (draining) {
        a.progress.error('Stopping now: uploads still in flight will be reported as upload_interrupted.');
        draining = false;
        cancelBatch();
        return;
      }
      stopping = true;
      draining = true;
      // Nothing has been sent for a solve still logging in: cancel those at once.
      for (const child of live.values()) if (child.getSnapshot().matches('loggingIn') || child.getSnapshot().matches('idle')) child.send({ type: 'CANCEL', reason: 'The run was stopped.' });
      const inFlight = uploadsInFlight();
      if (inFlight === 0) {
        a.progress.error('Stopping: cancelling the solves in flight. Rerun the same command to resume.');
        cancelBatch();
      } else {
        a.progress.error(
          `Stopping after ${inFlight} upload${inFlight === 1 ? '' : 's'} in flight reach${inFlight === 1 ? 'es' : ''} the server (press Ctrl-C again to stop at once). Rerun the same command to resume.`,
        );
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    actor.subscribe({ error: () => undefined });
    actor.start();
    try {
      await toPromise(actor);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }

    for (const rec of recs) {
      if (rec.result) continue;
      if (!items.some((i) => i.id === rec.id)) continue;
      a.progress.settle(rec.id, 'failure');
      const why = authError ? 'Not attempted: the server refused the API key.' : 'Not finished: the run was stopped.';
      report(rec, {
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

  a.progress.stop();
  const results = recs.map((r) => r.result as SolveJsonInput);
  const solved = results.filter((r) => r.status === 'success').length;
  const failed = results.length - solved;
  const doc: SolveJsonDocument = { inputs: results, summary: { total: results.length, solved, failed } };
  const summary = `${results.length} input${results.length === 1 ? '' : 's'}: ${solved} solved, ${failed} failed (${formatDuration(Date.now() - started)})`;
  if (a.json) {
    a.io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    a.io.stderr.write(`${summary}\n`);
  } else {
    a.io.stdout.write(`${summary}\n`);
  }

  if (authError) {
    a.io.stderr.write(
      `astrometry-net: authentication failed: ${(authError as SerializedError).message}\n` +
        'Check --api-key, the ASTROMETRY_API_KEY variable or the key file; find your key at https://nova.astrometry.net/api_help.\n',
    );
    return EXIT.auth;
  }
  if (stopping) return EXIT.interrupted;
  if (failed > 0) {
    const hints = [`${failed} of ${results.length} input${results.length === 1 ? '' : 's'} failed (listed above).`];
    if (interrupted > 0 || results.some((r) => r.error?.code === 'upload_interrupted')) {
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
