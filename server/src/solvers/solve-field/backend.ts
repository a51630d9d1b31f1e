/**
 * The `solve-field` backend: astrometry.net's real solver (Debian's `astrometry.net` package
 * plus an index set such as `astrometry-data-tycho2-10-19-littleendian`).
 *
 * One `solve()` runs `solve-field` once in the job directory, with the upload options mapped
 * the way nova maps them to augment-xylist (docs/nova-protocol.md#solver-command-line, #job-runner). As in nova, the outcome is
 * decided only by whether `wcs.fits` exists; a non-zero exit is just logged. The Calibration
 * is computed from the TAN part of the WCS exactly as nova computes it (docs/nova-protocol.md#calibration).
 */
import { copyFile, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Calibration } from 'astrometry-net-client';
import type { ParsedUploadOptions, SolveFiles, SolveOutcome, SolveRequest, SolverBackend, SolverDescription } from '../../solver-backend.js';
import { OptionError, formatNumber, optionArgs, type SolveArgsContext } from './command-line.js';
import { isFits, readBinTable } from 'astrometry-net-client/fits';
import { describeRun, runProgram, type RunResult } from './run.js';
import { imageSize } from '../../probe.js';
import { DEFAULT_MAX_PIXELS, declaredImageSize, pixelBudgetExceeded } from '../../declared-size.js';
import { DISK_FULL_REASON, freeBytes, isDiskFull, logSaysDiskFull } from '../../disk-full.js';
import {
  describeCoverage,
  explainBlindFailure,
  explainCoverage,
  hintedWidths,
  scanIndexDirs,
  systemIndexDirs,
  type IndexCoverage,
} from '../index-coverage.js';
import { annotationsFromPlotConstellations } from '../../annotations.js';
import { brightStarMagnitudes } from './bright-stars.js';
import { calibrationFromTan, readTanWcs } from './tan-wcs.js';

export interface SolveFieldBackendOptions {
  /** The solve-field executable: a name looked up in PATH (default `solve-field`) or a path. */
  solveFieldPath?: string;
  /** `--cpulimit` in seconds (default 60). Soft: the engine checks it between steps. */
  cpuLimitSeconds?: number;
  /**
   * Wall-clock limit for one solve-field run: a backstop against a hung solver, not the limit
   * (the CPU limit is). Default 10 x cpulimit, at least cpulimit + 10 minutes, so a solve
   * sharing its core with others under load still gets its whole CPU time.
   */
  timeoutMs?: number;
  /** Index directories searched besides the system's (e.g. astrometry.net's 4200/5200 series). */
  indexDirs?: string[];
  /** Also search the directories named in /etc/astrometry.cfg (`add_path`). Default true. */
  systemIndexes?: boolean;
  /**
   * Largest image solved, in pixels, as its header declares them (default 250 million): a
   * larger one fails at once, before solve-field or any conversion starts.
   */
  maxPixels?: number;
  /** Progress and diagnostics, one line at a time. */
  log?: (line: string) => void;
}

/** Output names inside the job directory (nova's names where it has them). */
export const SOLVE_FIELD_FILES = {
  /** The job log served at /joblog/<id>: the engine's own verbose log, as nova's, then serve's notes. */
  joblog: 'job.log',
  /** Everything solve-field printed (its own steps around the engine's); kept, not served. */
  solverLog: 'solve-field.log',
  /** The engine's config, generated from the index directories. */
  config: 'astrometry.cfg',
  axy: 'job.axy',
  wcs: 'wcs.fits',
  corr: 'corr.fits',
  rdls: 'rdls.fits',
  match: 'match.fits',
  solved: 'solved',
  indexXyls: 'index.xyls',
  newFits: 'new-image.fits',
  imageRd: 'image-radec.fits',
  objects: 'objsinfield',
  annotations: 'annotations.json',
  /** Plots solve-field draws itself (`--out job`). */
  plotExtraction: 'job-objs.png',
  plotIndex: 'job-indx.png',
  plotAnnotation: 'job-ngc.png',
  annotatedFull: 'annotated-full.jpg',
  annotatedDisplay: 'annotated-display.jpg',
  redGreenDisplay: 'red-green-display.png',
  extractionDisplay: 'extraction-display.png',
} as const;

/** What one solve has done so far, for the account of a full disk. */
interface SolveState {
  diskFull: boolean;
  files: SolveFiles;
  outDir?: string;
  input?: string;
  joblog?: string;
  tmpDir?: string | undefined;
}

/** Less free space than this after a failed solve: the solve ran out of it. */
const LOW_SPACE_BYTES = 1024 * 1024;

/** Where outputs go when the input in jobDir already has one of their names. */
const OUTPUT_SUBDIR = 'solve-field-output';
/** nova's `Image.DISPLAY_SIZE`: display images are at most this many pixels on the long side. */
const DISPLAY_SIZE = 640;
/** Limit for each helper tool run after the solve (plots, lists, conversions). */
const HELPER_TIMEOUT_MS = 30_000;

type InputType = 'png' | 'jpeg' | 'gif' | 'fits' | 'other';

async function sniffInput(file: string): Promise<InputType> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(16);
    const { bytesRead } = await fh.read(head, 0, 16, 0);
    const b = head.subarray(0, bytesRead);
    if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
    if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
    if (b.length >= 4 && b.subarray(0, 4).toString('latin1') === 'GIF8') return 'gif';
    if (isFits(b)) return 'fits';
    return 'other';
  } finally {
    await fh.close();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    const s = await stat(file);
    return s.isFile() && s.size > 0;
  } catch {
    return false;
  }
}

/** Width and height from a PNG's IHDR chunk. */
async function pngSize(file: string): Promise<{ width: number; height: number } | undefined> {
  try {
    const fh = await open(file, 'r');
    try {
      const b = Buffer.alloc(24);
      const { bytesRead } = await fh.read(b, 0, 24, 0);
      if (bytesRead < 24 || b.subarray(12, 16).toString('latin1') !== 'IHDR') return undefined;
      return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

/**
 * Split `plot-constellations -L` output into object names as nova does
 * (`Calibration.get_objs_in_field`): every line on every `/`, so `NGC 1976 / M 42` gives two
 * names, and `Kaffa (δ UMa / 69 UMa)` gives `Kaffa (δ UMa` and `69 UMa)`, unbalanced as on nova.
 */
export function parseObjectList(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) out.push(...line.split('/'));
  const seen = new Set<string>();
  return out.map((s) => s.trim()).filter((s) => s !== '' && !seen.has(s) && (seen.add(s), true));
}

const SAFE_PATH = /^[A-Za-z0-9_./+-]+$/;
const SAFE_COLUMN = /^[A-Za-z0-9_]+$/;

/** Create the backend. */
export function createSolveFieldBackend(options: SolveFieldBackendOptions = {}): SolverBackend {
  const solveFieldPath = options.solveFieldPath ?? 'solve-field';
  const cpuLimit = options.cpuLimitSeconds ?? 60;
  if (!Number.isFinite(cpuLimit) || cpuLimit <= 0) throw new RangeError('cpuLimitSeconds must be a positive number');
  const timeoutMs = options.timeoutMs ?? backstopMs(cpuLimit);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError('timeoutMs must be a positive number');
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels > 0)) throw new RangeError('maxPixels must be positive');
  const log = options.log ?? (() => {});
  // Companion tools (wcs-xy2rd, plot-constellations) live next to solve-field when a path was given.
  const toolDir = solveFieldPath.includes('/') ? path.dirname(solveFieldPath) : undefined;
  const tool = (name: string) => (toolDir ? path.join(toolDir, name) : name);
  // Read once at start: what the index files cover decides what a failure can be blamed on.
  const coverage: Promise<IndexCoverage> = (async () => {
    const dirs = [...(options.systemIndexes === false ? [] : await systemIndexDirs()), ...(options.indexDirs ?? [])];
    return scanIndexDirs([...new Set(dirs.map((d) => path.resolve(d)))]);
  })();
  const version: Promise<string | undefined> = runProgram(solveFieldPath, ['--version'], {
    cwd: process.cwd(),
    timeoutMs: HELPER_TIMEOUT_MS,
    stdout: 'capture',
    stderr: 'capture',
  }).then((r) => (r.code === 0 ? r.stdout.trim().split('\n')[0] || undefined : undefined));

  /**
   * A full disk ends the solve as such, wherever it struck: in solve-field (its log says so, or
   * the filesystem has next to nothing left) or in our own writes (ENOSPC thrown here).
   */
  async function solve(request: SolveRequest): Promise<SolveOutcome> {
    const state: SolveState = { diskFull: false, files: {} };
    try {
      return await solveOnce(request, state);
    } catch (err) {
      if (!isDiskFull(err) || request.signal.aborted) throw err;
      return diskFullOutcome(state, (err as Error).message);
    }
  }

  async function diskFullOutcome(state: SolveState, detail: string): Promise<SolveOutcome> {
    const where = state.outDir ?? path.resolve('.');
    // What this run left (partial conversions, plots) goes: the space is better spent on the
    // database's note that the job failed. The job log stays.
    if (state.tmpDir) await rm(state.tmpDir, { recursive: true, force: true }).catch(() => undefined);
    if (state.outDir) {
      const dir = state.outDir;
      await Promise.all(
        Object.values(SOLVE_FIELD_FILES)
          .filter((name) => name !== SOLVE_FIELD_FILES.joblog && path.join(dir, name) !== state.input)
          .map((name) => rm(path.join(dir, name), { force: true }).catch(() => undefined)),
      );
    }
    const free = await freeBytes(where);
    const line = `solve-field: ${DISK_FULL_REASON} (${detail}; ${free === undefined ? 'free space unknown' : `${Math.floor(free / 1024)} KiB free`} on the device of ${where})`;
    log(line);
    if (state.joblog) await writeFile(state.joblog, line + '\n', { flag: 'a' }).catch(() => undefined);
    const files: SolveFiles = state.files.joblog ? { joblog: state.files.joblog } : {};
    return { status: 'failure', failureReason: DISK_FULL_REASON, files, tags: [], machineTags: [], objectsInField: [] };
  }

  async function solveOnce(request: SolveRequest, state: SolveState): Promise<SolveOutcome> {
    const jobDir = path.resolve(request.jobDir);
    let input = path.resolve(request.inputPath);
    // Outputs go straight into jobDir, unless the input there carries one of their names: then
    // they go one level down, so the input keeps its bytes.
    const base = path.basename(input);
    const reserved = new Set<string>([...Object.values(SOLVE_FIELD_FILES), 'tmp']);
    const clashes = path.dirname(input) === jobDir && (reserved.has(base) || /^(job[.-]|input-file)/.test(base));
    const outDir = clashes ? path.join(jobDir, OUTPUT_SUBDIR) : jobDir;
    const P = (name: string) => path.join(outDir, name);
    const joblog = P(SOLVE_FIELD_FILES.joblog);
    const files: SolveFiles = state.files;
    state.outDir = outDir;
    state.input = input;
    const failure = (): SolveOutcome => ({ status: 'failure', files, tags: [], machineTags: [], objectsInField: [] });
    /** A line for serve's log and the job log; a job log that cannot be written is no reason to stop. */
    const note = async (line: string) => {
      log(line);
      try {
        await writeFile(joblog, line + '\n', { flag: 'a' });
      } catch (err) {
        if (isDiskFull(err)) state.diskFull = true;
        log(`solve-field: cannot write the job log: ${(err as Error).message}`);
      }
    };

    await mkdir(outDir, { recursive: true });
    // Outputs of an earlier run in the same directory must not pass for this run's (nova starts
    // every job in an emptied directory). Only our own names go; the input is never one of them.
    await Promise.all(
      Object.values(SOLVE_FIELD_FILES).map((name) => (P(name) === input ? undefined : rm(P(name), { force: true }))),
    );
    await writeFile(joblog, '');
    files.joblog = joblog;
    state.joblog = joblog;

    if (request.signal.aborted) {
      await note('solve-field: not started (aborted)');
      return failure();
    }

    // The pixel budget, from the header alone: solve-field (and the converters it runs) would
    // believe a 30-byte PNG claiming 20 000 x 20 000 pixels and take gigabytes for minutes.
    if (request.kind === 'image') {
      const declared = await declaredImageSize(input).catch(() => null);
      const tooLarge = declared && pixelBudgetExceeded(declared, maxPixels);
      if (tooLarge) {
        await note(`solve-field: not run: ${tooLarge}`);
        return { ...failure(), failureReason: tooLarge };
      }
    }

    let inputType: InputType;
    try {
      inputType = await sniffInput(input);
    } catch (err) {
      await note(`solve-field: cannot read input: ${(err as Error).message}`);
      return failure();
    }
    // solve-field quotes names in the shell commands it runs itself; control characters are
    // the one thing not worth trusting to that, so such a name is solved from a copy.
    if (/[\x00-\x1f\x7f]/.test(input)) {
      const copy = P(`input-file${inputType === 'other' ? '' : `.${inputType}`}`);
      await copyFile(input, copy);
      input = copy;
    }

    // Options to arguments; what nova would fail on fails here, before running anything.
    const ctx: SolveArgsContext = { kind: request.kind };
    /** A source list's own extent, ceil(max x) x ceil(max y): nova's calibration size for it. */
    let extent: { width: number; height: number } | undefined;
    let optArgs: string[];
    try {
      if (request.kind === 'xylist') {
        const table = readBinTable(await readFile(input));
        if (!table) throw new OptionError('the source list is not a FITS binary table');
        const xName = table.columnNames.find((c) => c.toLowerCase() === 'x');
        const yName = table.columnNames.find((c) => c.toLowerCase() === 'y');
        if (!xName || !yName) throw new OptionError('the source list has no x and y columns');
        if (!SAFE_COLUMN.test(xName) || !SAFE_COLUMN.test(yName)) throw new OptionError('odd x/y column names');
        if (table.rows === 0) throw new OptionError('the source list is empty');
        // nova: the size is ceil(max x) x ceil(max y), unless image_width/height override it.
        const xs = table.column(xName);
        const ys = table.column(yName);
        const w = Math.ceil(xs.reduce((a, b) => Math.max(a, b), -Infinity));
        const h = Math.ceil(ys.reduce((a, b) => Math.max(a, b), -Infinity));
        if (!(w >= 1 && h >= 1)) throw new OptionError('source list must contain POSITIVE x,y coordinates');
        extent = { width: w, height: h };
        const o = request.options;
        ctx.xylistSize = {
          width: o.image_width ? Number(formatNumber('image_width', o.image_width)) : w,
          height: o.image_height ? Number(formatNumber('image_height', o.image_height)) : h,
        };
        ctx.xColumn = xName;
        ctx.yColumn = yName;
      }
      optArgs = optionArgs(request.options, ctx);
    } catch (err) {
      await note(`solve-field: not run: ${(err as Error).message}`);
      return failure();
    }
    if (request.options.use_sextractor) {
      log('solve-field: use_sextractor needs the source-extractor program; without it the job fails, as on nova');
    }

    const tmpDir = P('tmp');
    state.tmpDir = tmpDir;
    await mkdir(tmpDir, { recursive: true });
    const F = SOLVE_FIELD_FILES;
    const cov = await coverage;
    await writeFile(P(F.config), engineConfig(cov.dirs, cpuLimit));
    const args = [
      '--dir', outDir,
      '--out', 'job',
      '--overwrite',
      '--temp-dir', tmpDir,
      '--cpulimit', formatNumber('cpuLimitSeconds', cpuLimit),
      '--config', F.config,
      '--axy', F.axy,
      '--wcs', F.wcs,
      '--corr', F.corr,
      '--rdls', F.rdls,
      '--match', F.match,
      '--solved', F.solved,
      '--index-xyls', F.indexXyls,
      '--new-fits', request.kind === 'image' ? F.newFits : 'none',
      '--objs', '1000',
      '--tag-all',
      // The engine's verbose log is nova's job log.
      '--verbose',
      // solve-field cannot draw plots without an image.
      ...(request.kind === 'xylist' ? ['--no-plots'] : []),
      ...optArgs,
      input,
    ];
    const cmdline = [solveFieldPath, ...args].map((a) => (SAFE_PATH.test(a) ? a : JSON.stringify(a))).join(' ');
    log(`solve-field: running ${cmdline}`);

    const solverLog = P(F.solverLog);
    const run = await runProgram(solveFieldPath, args, {
      cwd: outDir,
      timeoutMs,
      signal: request.signal,
      stdout: { file: solverLog },
      stderr: 'with-stdout',
      processes: request.processes,
    });
    const copyEngineLog = async () => writeFile(joblog, engineLog(await readFile(solverLog, 'latin1'), run.code !== 0 || run.killed !== undefined), { encoding: 'latin1', flag: 'a' });
    try {
      await copyEngineLog();
    } catch (err) {
      if (isDiskFull(err)) state.diskFull = true;
      // A full disk: the solver's scratch files go first (they go anyway, below), so that the
      // log saying why the job failed still gets written.
      const again = isDiskFull(err) ? await rm(tmpDir, { recursive: true, force: true }).then(copyEngineLog).then(() => true, () => false) : false;
      if (!again) log(`solve-field: cannot write the job log: ${(err as Error).message}`);
    }
    const summary = describeRun('solve-field', run);
    if (run.spawnError && (run.spawnError as NodeJS.ErrnoException).code === 'ENOENT') {
      await note(`${summary} (is astrometry.net installed? see scripts/install-solver.sh)`);
    } else if (run.code !== 0 || run.killed) {
      await note(summary);
    } else {
      log(summary);
    }
    // Whether solve-field ran out of space: its log says so (when that line got in), or the
    // filesystem has next to nothing left (before tmp/ goes, which may free it again).
    const solved = await exists(P(F.wcs));
    if (!solved && !request.signal.aborted) {
      const free = await freeBytes(outDir);
      if (free !== undefined && free < LOW_SPACE_BYTES) state.diskFull = true;
      if ((await logSaysDiskFull(joblog)) || (await logSaysDiskFull(solverLog))) state.diskFull = true;
    }
    await rm(tmpDir, { recursive: true, force: true });
    state.tmpDir = undefined;
    if (!solved && state.diskFull) return diskFullOutcome(state, `${summary}, for lack of space`);

    if (await exists(P(F.axy))) files.axy = P(F.axy);
    // solve-field draws the source plot before solving, so it can exist for failures too.
    await addPlot(files, 'extraction', P(F.plotExtraction), P(F.extractionDisplay), request.signal, outDir);

    // nova: the outcome is whether wcs.fits exists.
    if (!solved) {
      const size = request.kind === 'xylist' ? ctx.xylistSize : await imageSizeOf(input);
      const why = coverageNote(cov, request.options, size);
      if (why) {
        await note(why.message);
        return { ...failure(), ...(why.outside ? { failureReason: why.message } : {}) };
      }
      // A blind solve that ran its course: say what this server covers and what would widen it.
      if (!run.killed && !run.spawnError && hintedWidths(request.options, size) === null) {
        const message = explainBlindFailure(cov);
        await note(message);
        return { ...failure(), failureReason: message };
      }
      return failure();
    }
    let calibration: Calibration;
    try {
      // For a source list nova sizes the calibration by the list's extent, even when
      // image_width/height were given (and the solve ran with them).
      const tan = readTanWcs(await readFile(P(F.wcs)), extent);
      calibration = calibrationFromTan(tan, inputType === 'png' || inputType === 'jpeg' || inputType === 'gif');
    } catch (err) {
      await note(`solve-field: unreadable ${F.wcs}: ${(err as Error).message}`);
      return failure();
    }
    files.wcs = P(F.wcs);
    for (const key of ['corr', 'rdls', 'newFits'] as const) {
      if (await exists(P(F[key]))) files[key] = P(F[key]);
    }

    // image-radec.fits: the extracted sources converted to RA,Dec (nova's image_rd_file).
    if (files.axy && !request.signal.aborted) {
      const r = await helper(tool('wcs-xy2rd'), ['-w', F.wcs, '-i', F.axy, '-o', F.imageRd], outDir, request.signal);
      if (r.code === 0 && (await exists(P(F.imageRd)))) files.imageRd = P(F.imageRd);
      else log(describeRun('wcs-xy2rd', r));
    }

    // Objects in the field, as nova lists them (`plot-constellations ... -L`).
    let objects: string[] = [];
    if (!request.signal.aborted) {
      const r = await helper(
        tool('plot-constellations'),
        ['-w', F.wcs, '-N', '-C', '-B', '-b', '10', '-j', '-L'],
        outDir,
        request.signal,
        'capture',
      );
      if (r.code === 0) {
        objects = parseObjectList(r.stdout);
        await writeFile(P(F.objects), r.stdout);
      } else {
        log(describeRun('plot-constellations', r));
      }
    }

    // Annotations as nova serves them: bright stars always, every NGC/IC object (no size cut:
    // -F 0) for fields under 10 degrees.
    if (!request.signal.aborted) {
      const r = await helper(tool('plot-constellations'), ['-w', F.wcs, '-B', ...(calibration.radius < 10 ? ['-N', '-F', '0'] : []), '-J', '-L'], outDir, request.signal);
      try {
        if (r.code !== 0) throw new Error(describeRun('plot-constellations', r));
        const magnitudes = await brightStarMagnitudes(log);
        await writeFile(P(F.annotations), JSON.stringify(annotationsFromPlotConstellations(r.stderr, magnitudes)));
        files.annotations = P(F.annotations);
      } catch (err) {
        log(`annotations: ${(err as Error).message}`);
      }
    }

    await addPlot(files, 'redGreen', P(F.plotIndex), P(F.redGreenDisplay), request.signal, outDir);
    await addAnnotated(files, P(F.plotAnnotation), P(F.annotatedFull), P(F.annotatedDisplay), request.signal, outDir);

    return {
      status: 'success',
      calibration,
      files,
      tags: [...objects],
      machineTags: [...objects],
      objectsInField: objects,
    };
  }

  function helper(
    command: string,
    args: string[],
    cwd: string,
    signal: AbortSignal,
    stdout: 'capture' | string = 'capture',
  ): Promise<RunResult> {
    return runProgram(command, args, {
      cwd,
      timeoutMs: HELPER_TIMEOUT_MS,
      signal,
      stdout: stdout === 'capture' ? 'capture' : { file: stdout },
      stderr: 'capture',
    });
  }

  /** PNG -> (scaled) PNM -> PNG/JPEG with netpbm, through files. Returns whether `out` exists. */
  async function convert(
    src: string,
    out: string,
    format: 'png' | 'jpeg',
    maxSize: number | undefined,
    signal: AbortSignal,
    cwd: string,
  ): Promise<boolean> {
    const pnm1 = `${out}.tmp1.pnm`;
    const pnm2 = `${out}.tmp2.pnm`;
    try {
      let r = await helper('pngtopnm', [src], cwd, signal, pnm1);
      if (r.code !== 0) return fail('pngtopnm', r);
      let pnm = pnm1;
      if (maxSize !== undefined) {
        r = await helper('pnmscale', ['-xysize', String(maxSize), String(maxSize), pnm1], cwd, signal, pnm2);
        if (r.code !== 0) return fail('pnmscale', r);
        pnm = pnm2;
      }
      r = await helper(format === 'png' ? 'pnmtopng' : 'pnmtojpeg', [pnm], cwd, signal, out);
      if (r.code !== 0) return fail(format === 'png' ? 'pnmtopng' : 'pnmtojpeg', r);
      return exists(out);
    } finally {
      await rm(pnm1, { force: true });
      await rm(pnm2, { force: true });
    }
    function fail(name: string, r: RunResult): boolean {
      log(`${describeRun(name, r)}${r.stderr ? `: ${r.stderr.trim().split('\n')[0]}` : ''}`);
      return false;
    }
  }

  /** A PNG plot served as-is at full size, and scaled down to the display size when larger. */
  async function addPlot(
    files: SolveFiles,
    kind: 'extraction' | 'redGreen',
    full: string,
    display: string,
    signal: AbortSignal,
    cwd: string,
  ): Promise<void> {
    if (signal.aborted || !(await exists(full))) return;
    files[`${kind}Full`] = full;
    const size = await pngSize(full);
    if (size && Math.max(size.width, size.height) <= DISPLAY_SIZE) {
      files[`${kind}Display`] = full;
    } else if (await convert(full, display, 'png', DISPLAY_SIZE, signal, cwd)) {
      files[`${kind}Display`] = display;
    }
  }

  /** The annotation plot as JPEG (nova serves annotated images as image/jpeg), full and display. */
  async function addAnnotated(
    files: SolveFiles,
    png: string,
    full: string,
    display: string,
    signal: AbortSignal,
    cwd: string,
  ): Promise<void> {
    if (signal.aborted || !(await exists(png))) return;
    if (!(await convert(png, full, 'jpeg', undefined, signal, cwd))) return;
    files.annotatedFull = full;
    const size = await pngSize(png);
    if (size && Math.max(size.width, size.height) <= DISPLAY_SIZE) {
      files.annotatedDisplay = full;
    } else if (await convert(png, display, 'jpeg', DISPLAY_SIZE, signal, cwd)) {
      files.annotatedDisplay = display;
    }
  }

  async function describe(): Promise<SolverDescription> {
    const cov = await coverage;
    const v = await version;
    return {
      name: 'solve-field',
      ...(v ? { version: v } : {}),
      index: {
        dirs: cov.dirs,
        files: cov.files.length,
        series: cov.series,
        fieldWidthArcmin: cov.fieldArcmin,
        summary: describeCoverage(cov),
      },
      limits: { cpuLimitSeconds: cpuLimit, timeoutSeconds: timeoutMs / 1000 },
    };
  }

  return { name: 'solve-field', solve, describe };
}

/**
 * The engine's part of solve-field's verbose output: from its first `Auto-indexing directory`
 * line (nova's job log starts there, as nova runs the engine alone) through its closing `Spent …
 * seconds on this field.`. When the engine never ran (solve-field stopped before it) or was
 * killed, what there is from that start, or the whole output, so the reason is not lost.
 */
export function engineLog(output: string, failed = false): string {
  const start = output.search(/^Auto-indexing directory /m);
  if (start < 0) return output;
  const rest = output.slice(start);
  const ends = [...rest.matchAll(/^Spent [^\n]* seconds on this field\.\n?/gm)];
  const last = ends.at(-1);
  if (last?.index === undefined) return rest;
  const end = start + last.index + last[0].length;
  if (!failed) return output.slice(start, end);
  // When solve-field failed, what went wrong outside the engine (a full disk while writing the
  // results, a tool that failed) is kept too: the log is where a user looks for why.
  const problems = (output.slice(0, start) + output.slice(end)).split('\n').filter((line) => PROBLEM.test(line));
  return output.slice(start, end) + problems.map((line) => `${line}\n`).join('');
}

/** Lines of solve-field's own output that say something failed. */
const PROBLEM = /\b(error|failed|cannot|no space left on device|killed)\b/i;

/** The default wall-clock backstop of one solve-field run, ms (see SolveFieldBackendOptions.timeoutMs). */
export function backstopMs(cpuLimitSeconds: number): number {
  return Math.max(cpuLimitSeconds * 10, cpuLimitSeconds + 600) * 1000;
}

/** astrometry-engine's config: the index directories, searched for every index file in them. */
export function engineConfig(dirs: readonly string[], cpuLimit: number): string {
  const lines = ['# Generated by astrometry-net serve from its index directories.', `cpulimit ${formatNumber('cpuLimitSeconds', cpuLimit)}`];
  for (const d of dirs) lines.push(`add_path ${d}`);
  lines.push('autoindex', '');
  return lines.join('\n');
}

async function imageSizeOf(file: string): Promise<{ width: number; height: number } | undefined> {
  try {
    const fh = await open(file, 'r');
    try {
      const head = Buffer.alloc(1 << 20);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      const size = imageSize(head.subarray(0, bytesRead));
      return size ? { width: size.width, height: size.height } : undefined;
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

/** A job-log line when the hinted field width lies (partly) outside the installed index coverage. */
function coverageNote(
  cov: IndexCoverage,
  o: ParsedUploadOptions,
  size: { width: number; height: number } | undefined,
): { outside: boolean; message: string } | null {
  const widths = hintedWidths(o, size);
  if (!widths) return null;
  const range = o.scale_type === 'ev' ? `${o.scale_est} ± ${o.scale_err} %` : `${o.scale_lower}–${o.scale_upper}`;
  const perPixel = /^(arcsecperpix|app)$/i.test(o.scale_units ?? '') && size ? ` × ${Math.max(size.width, size.height)} px` : '';
  return explainCoverage(cov, widths, `scale hint ${range} ${o.scale_units}${perPixel}`);
}
