/**
 * `astrometry-net results JOBID`: the solve machine resumed at a job, with the chosen files as
 * its prefetch; they are written into --out once it settles.
 */
import { resolve } from 'node:path';
import type { ResultRequest } from '../../../machines/solve.machine.js';
import { StartedSolve, milestones } from '../../client/started-solve.js';
import type { FileResultKind } from '../../protocol/result-kinds.js';
import { Flags, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { connect, CONNECTION_FLAGS, verboseRequests } from '../connect.js';
import { RESULTS_HELP } from '../help.js';
import { COMMON_FLAGS, EXIT, type CliIo } from '../io.js';
import { isFitsFile, outputPlan, OUTPUT_FLAGS, resultKindOf, writeOutputs } from '../outputs.js';
import { parseId } from './status.js';

export const RESULTS_FLAGS: readonly FlagSpec[] = [
  ...COMMON_FLAGS,
  ...CONNECTION_FLAGS,
  ...OUTPUT_FLAGS,
  { name: 'stem', type: 'string' },
  { name: 'image', type: 'string' },
];

export async function runResults(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseArgs(argv, RESULTS_FLAGS, 'results'));
  if (flags.bool('help')) {
    io.stdout.write(RESULTS_HELP);
    return EXIT.ok;
  }
  const [idText, ...extra] = flags.parsed.positionals;
  if (extra.length > 0) throw new UsageError(`results takes one job id, got ${flags.parsed.positionals.length}.`);
  const jobId = parseId(idText, 'job id');
  const plan = outputPlan(flags);
  const outDir = resolve(io.cwd, flags.string('out') ?? '.');
  const stem = flags.string('stem') ?? `job-${jobId}`;
  if (!/^[^/\\]+$/.test(stem) || stem === '.' || stem === '..') throw new UsageError(`Invalid --stem "${stem}": a file name without directories.`);
  const image = flags.string('image');
  const imagePath = image === undefined ? undefined : resolve(io.cwd, image);
  if (imagePath !== undefined && !isFitsFile(imagePath)) throw new UsageError(`--image ${image} is not a FITS file.`);
  const kinds = new Set<FileResultKind>(plan.kinds.map((k) => resultKindOf(k, plan)));
  if (imagePath) kinds.add('wcs');
  if (kinds.size === 0) throw new UsageError('No files asked for: give --wcs or another file flag.');

  const connection = await connect(flags, {
    outDir,
    ...verboseRequests(flags, io.stderr),
  });
  try {
    const { session } = connection;
    const handle = new StartedSolve(session, {
      input: { jobId, schedule: session.schedule, timeoutMs: session.timeoutMs, prefetch: [...kinds].map((kind): ResultRequest => ({ kind })) },
    });
    handle.actor.send({ type: 'START' });
    const s = await handle.until(milestones.quiet);
    const c = s.context;
    if (c.error) {
      io.stderr.write(`astrometry-net: job ${jobId}: ${c.error.code}: ${c.error.message}\n`);
      if (flags.bool('json')) io.stdout.write(`${JSON.stringify({ jobId, status: 'failure', files: {}, error: { code: c.error.code, message: c.error.message } }, null, 2)}\n`);
      return EXIT.failed;
    }
    const { files, warnings } = writeOutputs({
      outDir,
      stem,
      plan,
      fetched: c.results.files ?? {},
      ...(imagePath ? { fitsInputPath: imagePath } : {}),
      jobId,
    });
    for (const [key, err] of Object.entries(c.resultErrors)) warnings.push(`Could not fetch the ${key} file: ${err.message}`);
    for (const w of warnings) io.stderr.write(`warning: ${w}\n`);
    if (flags.bool('json')) {
      io.stdout.write(`${JSON.stringify({ jobId, status: 'success', calibration: c.results.calibration ?? null, files, error: null }, null, 2)}\n`);
    } else {
      for (const [kind, path] of Object.entries(files)) io.stdout.write(`${kind}\t${path}\n`);
    }
    return warnings.length > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await connection.close();
  }
}
