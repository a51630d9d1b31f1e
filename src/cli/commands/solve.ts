/**
 * `astrometry-net solve INPUT...`: flags and inputs checked before any request, the key found,
 * the `--out` folder locked, the inspector and the connection started; then the run itself
 * (../solve-run.ts) drives the batch and reports.
 */
import { resolve } from 'node:path';
import { describeInput, type SolveInput, type UploadDescriptor } from '../../client/solve-input.js';
import type { WireUploadOptions } from '../../protocol/upload-options.js';
import { mayHaveHeader, type SolveHints } from '../../client/hints.js';
import { extractForUpload } from '../extract-locally.js';
import { Flags, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { connect, CONNECTION_FLAGS, requireApiKey, startInspector, type CliInspector, type Connection } from '../connect.js';
import { SOLVE_HELP } from '../help.js';
import { resolveInputs, type CliInput } from '../expand-inputs.js';
import { HduInputs } from '../hdu-inputs.js';
import { COMMON_FLAGS, EXIT, type CliIo } from '../io.js';
import { lockOutDir } from '../out-lock.js';
import { outputPlan, OUTPUT_FLAGS } from '../outputs.js';
import { Progress } from '../progress.js';
import { runSolveBatch, type SolveRunArgs } from '../solve-run.js';
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
  { name: 'inspect-stately', type: 'boolean' },
  { name: 'local-extraction', type: 'boolean' },
  { name: 'cache', type: 'boolean' },
  { name: 'hdu', type: 'string' },
  { name: 'header-hints', type: 'boolean' },
  { name: 'strict-hints', type: 'boolean' },
  { name: 'sequence', type: 'boolean' },
];

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
  const given = resolveInputs(flags.parsed.positionals, flags.list('source-list'), io.cwd);
  if (given.length === 0) {
    throw new UsageError('Nothing to solve: give image files, directories, globs or URLs, or --source-list FILE.', 'Example: astrometry-net solve image.fits --out results/');
  }
  // --hdu: each selected HDU of a FITS input is an input of its own (cut out to a temp file).
  const hduFlag = flags.string('hdu');
  const hdus = hduFlag === undefined ? null : new HduInputs();
  try {
    const inputs = hdus && hduFlag !== undefined ? hdus.expand(given, HduInputs.parse(hduFlag)) : given;
    return await solveInputs(flags, io, inputs, hdus, { wire, plan, concurrency, json, quiet, verbose });
  } finally {
    hdus?.dispose();
  }
}

async function solveInputs(
  flags: Flags,
  io: CliIo,
  inputs: CliInput[],
  hdus: HduInputs | null,
  { wire, plan, concurrency, json, quiet, verbose }: Pick<SolveRunArgs, 'wire' | 'plan' | 'concurrency' | 'json' | 'quiet'> & { verbose: boolean },
): Promise<number> {
  const outDir = resolve(io.cwd, flags.string('out') ?? '.');
  // The library's Node entry (platform, transport) is loaded only now: usage errors above
  // need none of it.
  await import('../../index.js');
  // Describe every input before any request: a bad URL or source list stops here with exit 2.
  const descriptors = new Map<string, UploadDescriptor>();
  const scratch = new Map();
  const wires = new Map<string, WireUploadOptions>();
  const strictHints = flags.bool('strict-hints');
  if (strictHints && !flags.bool('header-hints', true)) throw new UsageError('--strict-hints and --no-header-hints contradict each other: give one.');
  // A FITS file's pointing and optics, read from its header (the first blocks only). Only files
  // that may be FITS are read, and the reader loads only when there is one (not for PNGs).
  const headerFile = (input: CliInput) => input.kind === 'file' && mayHaveHeader({ file: input.path });
  const readHints = flags.bool('header-hints', true) && inputs.some(headerFile) ? await import('../../client/header-hints.js') : undefined;
  const applyHintsToWire = readHints ? (await import('../../client/apply-hints.js')).applyHintsToWire : undefined;
  for (const input of inputs) {
    let source: SolveInput =
      input.kind === 'file' ? { file: input.path } : input.kind === 'url' ? { url: input.url } : { sourceList: { x: input.x, y: input.y } };
    let hinted: { options: WireUploadOptions; hints: SolveHints | null } = { options: wire, hints: null };
    if (readHints && applyHintsToWire && headerFile(input)) {
      hinted = applyHintsToWire(wire, null, await readHints.readHeaderHints(source), strictHints);
      if (hinted.hints) wires.set(input.id, hinted.options);
    }
    if (flags.bool('local-extraction') && input.kind === 'url') {
      throw new UsageError(`--local-extraction needs the image here, but ${input.label} is a URL the server would fetch.`, 'Download it first, or drop --local-extraction.');
    }
    if (flags.bool('local-extraction') && input.kind === 'file') {
      const local = await extractForUpload(input.path, hinted.options);
      source = local.source;
      wires.set(input.id, local.wire);
    }
    const descriptor = describeInput(source, scratch);
    descriptors.set(input.id, hinted.hints ? { ...descriptor, hints: hinted.hints } : descriptor);
  }
  await requireApiKey(flags);
  // One run per output folder: a second would upload what the first is uploading.
  const lock = lockOutDir(outDir);
  try {
    const sequence = flags.bool('sequence') ? { strict: strictHints } : undefined;
    return await solveLocked({ flags, io, inputs, descriptors, wire, wires, plan, outDir, concurrency, json, quiet, verbose, useCache: flags.bool('cache', true), hdus, ...(sequence ? { sequence } : {}) });
  } finally {
    lock.release();
  }
}

async function solveLocked(a: Omit<SolveRunArgs, 'connection' | 'progress'> & { verbose: boolean }): Promise<number> {
  const { flags, io, outDir, concurrency, quiet, verbose } = a;

  // The inspector's page replays what happened before it was opened, so the solve need not wait.
  let inspector: CliInspector | undefined;
  if (flags.bool('inspect') || flags.bool('inspect-stately')) {
    const stately = flags.bool('inspect-stately');
    inspector = await startInspector(stately ? 'stately' : 'offline');
    io.stderr.write(
      `Inspector: open ${inspector.url} in a browser to watch the statecharts${stately ? ' in the Stately inspector' : ''} (served while this command runs).\n`,
    );
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
    return await runSolveBatch({ ...a, connection, progress });
  } finally {
    progress.stop();
    await connection.close();
    await inspector?.stop();
  }
}

