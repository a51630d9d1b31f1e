/**
 * `astrometry-net status ID [--job]`: one look at a submission or a job, through the solve
 * machine resumed at that id. The machine is stopped as soon as it has read what it can tell
 * (a job still running, a submission still waiting, or a final state).
 */
import type { SolveSnapshot } from '../../../machines/solve.machine.js';
import { StartedSolve, polls } from '../../client/started-solve.js';
import { viewOf } from '../../client/solve-view.js';
import { Flags, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { connect, CONNECTION_FLAGS, verboseRequests } from '../connect.js';
import { STATUS_HELP } from '../help.js';
import { COMMON_FLAGS, EXIT, type CliIo } from '../io.js';

export const STATUS_FLAGS: readonly FlagSpec[] = [...COMMON_FLAGS, ...CONNECTION_FLAGS, { name: 'job', type: 'boolean' }, { name: 'out', type: 'string', short: 'o' }];

export function parseId(text: string | undefined, what: string): number {
  if (text === undefined) throw new UsageError(`Missing the ${what}.`);
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`Invalid ${what}: "${text}". Allowed: a positive whole number.`);
  }
  return Number(text);
}

/** Where the look can stop: nothing more to learn without waiting. */
function informative(s: SolveSnapshot): boolean {
  if (s.hasTag('settled')) return true;
  if (polls.jobWaiting(s)) return true;
  return polls.submissionWaiting(s) && s.context.submission !== null;
}

export async function runStatus(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseArgs(argv, STATUS_FLAGS, 'status'));
  if (flags.bool('help')) {
    io.stdout.write(STATUS_HELP);
    return EXIT.ok;
  }
  const isJob = flags.bool('job');
  const [idText, ...extra] = flags.parsed.positionals;
  if (extra.length > 0) throw new UsageError(`status takes one id, got ${flags.parsed.positionals.length}.`);
  const id = parseId(idText, isJob ? 'job id' : 'submission id');
  const connection = await connect(flags, {
    outDir: io.cwd,
    ...verboseRequests(flags, io.stderr),
  });
  try {
    const { session } = connection;
    const handle = new StartedSolve(session, {
      input: { ...(isJob ? { jobId: id } : { subid: id }), schedule: session.schedule, timeoutMs: session.timeoutMs },
    });
    handle.actor.send({ type: 'START' });
    if (polls.submissionWaiting(handle.snapshot)) handle.actor.send({ type: 'POLL_NOW' });
    const s = await handle.until(informative);
    handle.cancel('status read');
    const c = s.context;
    const view = viewOf(s);
    const { state, error } = view;
    const readFailed = error !== null && !['job_failed', 'submission_failed'].includes(error.code);
    const doc = {
      kind: isJob ? 'job' : 'submission',
      id,
      state,
      subid: view.subid,
      jobId: view.jobId,
      jobStatus: c.jobStatus,
      submission: c.submission,
      calibration: view.calibration,
      error: error ? { code: error.code, message: error.message } : null,
    };
    if (flags.bool('json')) {
      io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else if (!readFailed) {
      const lines = [`${isJob ? 'job' : 'submission'} ${id}: ${state}`];
      if (view.subid !== null) lines.push(`  subid: ${view.subid}`);
      if (c.submission) {
        lines.push(`  jobs: ${c.submission.jobs.map((j) => (j === null ? '(waiting for a solver)' : String(j))).join(', ') || '(none yet)'}`);
        lines.push(`  processing started: ${c.submission.processing_started ?? '-'}, finished: ${c.submission.processing_finished ?? '-'}`);
      }
      if (view.jobId !== null) lines.push(`  job: ${view.jobId} ${c.jobStatus ?? ''}`.trimEnd());
      const cal = view.calibration;
      if (cal) lines.push(`  calibration: RA ${cal.ra.toFixed(5)} Dec ${cal.dec.toFixed(5)} scale ${cal.pixscale.toFixed(3)}"/px orientation ${cal.orientation.toFixed(2)}°`);
      if (error) lines.push(`  ${error.code}: ${error.message}`);
      io.stdout.write(`${lines.join('\n')}\n`);
    }
    if (readFailed) {
      io.stderr.write(`astrometry-net: could not read ${isJob ? 'job' : 'submission'} ${id}: ${error.code}: ${error.message}\n`);
      if (error.code === 'not_found') io.stderr.write(`Check the id${isJob ? '' : ' (or add --job if it is a job id)'} and --api-url.\n`);
      return EXIT.failed;
    }
    return EXIT.ok;
  } finally {
    await connection.close();
  }
}
