/**
 * A deterministic stand-in for astrometry.net's solver, for tests and demos.
 *
 * Outcome: failure when the original file name contains "noise" or "fail", success otherwise.
 * The calibration is derived from the SHA-1 of the input (or taken from the RA/Dec hint), and
 * the result files are small but valid FITS consistent with it, so downloads carry real bytes.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Calibration } from 'astrometry-net-client';
import type { SolveFiles, SolveOutcome, SolveRequest, SolverBackend } from '../solver-backend.js';
import { emptyPrimary, isFits, readXyColumns, tableFile, type CardInput } from 'astrometry-net-client/fits';
import { sha1File } from '../ingest.js';
import { imageSize } from '../probe.js';
import { cdMatrix, pixelToRaDec, type TanWcs } from './tan.js';

export interface SimulatedSolverOptions {
  /** Time the server spends "ingesting" a submission (processing_started → finished). Default 50. */
  ingestMs?: number;
  /** Time a job stays `processing` (created, not yet started) once it has a solver slot. Default 50. */
  queueMs?: number;
  /** Time a job stays `solving`. Default 100. */
  solveMs?: number;
}

export const SIMULATED_DEFAULTS: Required<SimulatedSolverOptions> = { ingestMs: 50, queueMs: 50, solveMs: 100 };

export function createSimulatedBackend(options: SimulatedSolverOptions = {}): SolverBackend {
  const solveMs = options.solveMs ?? SIMULATED_DEFAULTS.solveMs;
  return {
    name: 'simulated',
    solve: (req) => simulateSolve(req, solveMs),
  };
}

export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError());
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(): Error {
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  return e;
}

/** Deterministic uniform numbers in [0, 1) from a digest. */
function uniforms(digest: Buffer): (i: number) => number {
  return (i) => digest.readUInt32BE((i * 4) % (digest.length - 3)) / 2 ** 32;
}

/** A small seeded PRNG (mulberry32) for synthetic source positions. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface InputGeometry {
  width: number;
  height: number;
  jpegLike: boolean;
  sources: { x: number[]; y: number[] };
}

/** Enough of an image's start for its size: FITS headers, PNG/GIF/PNM headers, JPEG segments before SOF. */
const IMAGE_HEAD_BYTES = 4 * 1024 * 1024;

async function readHead(path: string, max: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Reads only what it needs: a source list is the server's own small FITS table, an image only its head. */
async function readGeometry(req: SolveRequest, digest: Buffer): Promise<InputGeometry> {
  const o = req.options;
  if (req.kind === 'xylist') {
    const bytes = await readFile(req.inputPath);
    const t = isFits(bytes) ? readXyColumns(bytes) : undefined;
    const xs = t?.x ?? [];
    const ys = t?.y ?? [];
    const w = o.image_width || Math.ceil(maxOr1(xs));
    const h = o.image_height || Math.ceil(maxOr1(ys));
    return { width: w, height: h, jpegLike: false, sources: { x: xs.slice(0, 200), y: ys.slice(0, 200) } };
  }
  const size = imageSize(await readHead(req.inputPath, IMAGE_HEAD_BYTES));
  const width = size?.width ?? 1000;
  const height = size?.height ?? 1000;
  const rnd = prng(digest.readUInt32BE(12));
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < 30; i++) {
    x.push(1 + rnd() * (width - 1));
    y.push(1 + rnd() * (height - 1));
  }
  const jpegLike = size !== null && ['jpeg', 'png', 'gif', 'pnm'].includes(size.format);
  return { width, height, jpegLike, sources: { x, y } };
}

async function simulateSolve(req: SolveRequest, solveMs: number): Promise<SolveOutcome> {
  await abortableDelay(solveMs, req.signal);
  // Inputs can be gigabytes: hashed as a stream, never read whole.
  const digest = Buffer.from(await sha1File(req.inputPath), 'hex');
  const geo = await readGeometry(req, digest);
  const files: SolveFiles = {};
  const log: string[] = [
    'Simulated astrometry.net solver (deterministic; no real plate solving).',
    `Input: ${req.kind}, ${geo.width} x ${geo.height} pixels, sha1 ${digest.toString('hex')}`,
  ];

  const axy = join(req.jobDir, 'axy.fits');
  await writeFile(
    axy,
    tableFile(
      [
        { name: 'X', type: 'E', values: geo.sources.x },
        { name: 'Y', type: 'E', values: geo.sources.y },
        { name: 'FLUX', type: 'E', values: geo.sources.x.map((_, i) => 1000 / (i + 1)) },
        { name: 'BACKGROUND', type: 'E', values: geo.sources.x.map(() => 0) },
      ],
      [
        { keyword: 'IMAGEW', value: geo.width },
        { keyword: 'IMAGEH', value: geo.height },
      ],
    ),
  );
  files.axy = axy;

  const failing = /noise|fail/i.test(req.originalFilename);
  if (failing) {
    log.push('Did not solve (simulated failure: file name contains "noise" or "fail").');
    files.joblog = await writeLog(req.jobDir, log);
    return { status: 'failure', files, tags: [], machineTags: [], objectsInField: [] };
  }

  const u = uniforms(digest);
  const o = req.options;
  const ra = o.center_ra !== undefined && o.center_dec !== undefined ? wrap360(o.center_ra) : u(0) * 360;
  const dec =
    o.center_ra !== undefined && o.center_dec !== undefined
      ? Math.max(-90, Math.min(90, o.center_dec))
      : (Math.asin(2 * u(1) - 1) * 180) / Math.PI;
  const pixscale = pickPixscale(req, u(2), geo);
  const rawOrientation = 180 - u(3) * 360; // (-180, 180]
  const parity: 1 | -1 = u(4) < 0.5 ? 1 : -1;
  const [cd11, cd12, cd21, cd22] = cdMatrix(pixscale / 3600, rawOrientation, parity);
  const wcs: TanWcs = {
    crval1: ra,
    crval2: dec,
    crpix1: (geo.width + 1) / 2,
    crpix2: (geo.height + 1) / 2,
    cd11,
    cd12,
    cd21,
    cd22,
    imagew: geo.width,
    imageh: geo.height,
  };
  // nova flips the reported orientation for JPEG-like inputs (docs/nova-protocol.md#calibration).
  const orientation = geo.jpegLike ? (180 - rawOrientation + 360) % 360 : rawOrientation;
  const calibration: Calibration = {
    ra,
    dec,
    radius: ((pixscale / 3600) * Math.hypot(geo.width, geo.height)) / 2,
    pixscale,
    orientation,
    parity,
    width_arcsec: pixscale * geo.width,
    height_arcsec: pixscale * geo.height,
  };

  files.wcs = join(req.jobDir, 'wcs.fits');
  await writeFile(files.wcs, emptyPrimary(wcsCards(wcs), false));

  const sky = geo.sources.x.map((x, i) => pixelToRaDec(wcs, x, geo.sources.y[i] ?? 0));
  files.rdls = join(req.jobDir, 'rdls.fits');
  await writeFile(
    files.rdls,
    tableFile([
      { name: 'RA', type: 'D', values: sky.map((s) => s.ra) },
      { name: 'DEC', type: 'D', values: sky.map((s) => s.dec) },
    ]),
  );

  const n = Math.min(sky.length, 12);
  const idx = Array.from({ length: n }, (_, i) => i);
  files.corr = join(req.jobDir, 'corr.fits');
  await writeFile(
    files.corr,
    tableFile([
      { name: 'field_x', type: 'D', values: idx.map((i) => geo.sources.x[i] ?? 0) },
      { name: 'field_y', type: 'D', values: idx.map((i) => geo.sources.y[i] ?? 0) },
      { name: 'field_ra', type: 'D', values: idx.map((i) => sky[i]?.ra ?? 0) },
      { name: 'field_dec', type: 'D', values: idx.map((i) => sky[i]?.dec ?? 0) },
      { name: 'index_x', type: 'D', values: idx.map((i) => geo.sources.x[i] ?? 0) },
      { name: 'index_y', type: 'D', values: idx.map((i) => geo.sources.y[i] ?? 0) },
      { name: 'index_ra', type: 'D', values: idx.map((i) => sky[i]?.ra ?? 0) },
      { name: 'index_dec', type: 'D', values: idx.map((i) => sky[i]?.dec ?? 0) },
      { name: 'index_id', type: 'J', values: idx },
      { name: 'field_id', type: 'J', values: idx },
      { name: 'match_weight', type: 'D', values: idx.map(() => 1) },
    ]),
  );

  log.push(
    `Field center: (RA,Dec) = (${ra.toFixed(6)}, ${dec.toFixed(6)}) deg.`,
    `Field size: ${((pixscale * geo.width) / 60).toFixed(4)} x ${((pixscale * geo.height) / 60).toFixed(4)} arcminutes`,
    `Pixel scale: ${pixscale.toFixed(4)} arcsec/pix. Field rotation angle: up is ${orientation.toFixed(4)} degrees E of N`,
    'Field 1: solved (simulated).',
  );
  files.joblog = await writeLog(req.jobDir, log);

  const tag = `simulated field ${digest.toString('hex').slice(0, 8)}`;
  return { status: 'success', calibration, files, tags: [tag], machineTags: [tag], objectsInField: [tag] };
}

function maxOr1(v: number[]): number {
  let m = 1;
  for (const n of v) if (n > m) m = n;
  return m;
}

function wrap360(x: number): number {
  return ((x % 360) + 360) % 360;
}

/** Honours an `arcsecperpix` scale range when given, so option plumbing is observable. */
function pickPixscale(req: SolveRequest, u: number, geo: InputGeometry): number {
  const o = req.options;
  const lo = o.scale_lower;
  const hi = o.scale_upper;
  if (o.scale_units === 'arcsecperpix' && lo !== undefined && hi !== undefined && lo > 0 && hi >= lo) {
    return Math.sqrt(lo * hi);
  }
  if ((o.scale_units === 'degwidth' || o.scale_units === 'arcminwidth') && lo !== undefined && hi !== undefined && lo > 0 && hi >= lo && !(lo === 0.1 && hi === 180)) {
    const widthArcsec = Math.sqrt(lo * hi) * (o.scale_units === 'degwidth' ? 3600 : 60);
    return widthArcsec / geo.width;
  }
  return 0.5 * Math.exp(u * Math.log(60)); // 0.5 .. 30 arcsec/px, log-uniform
}

function wcsCards(w: TanWcs): CardInput[] {
  return [
    { keyword: 'WCSAXES', value: 2 },
    { keyword: 'CTYPE1', value: 'RA---TAN', comment: 'TAN (gnomic) projection' },
    { keyword: 'CTYPE2', value: 'DEC--TAN', comment: 'TAN (gnomic) projection' },
    { keyword: 'EQUINOX', value: 2000.0, comment: 'Equatorial coordinates definition (yr)' },
    { keyword: 'LONPOLE', value: 180.0 },
    { keyword: 'LATPOLE', value: 0.0 },
    { keyword: 'CRVAL1', value: w.crval1, comment: 'RA  of reference point' },
    { keyword: 'CRVAL2', value: w.crval2, comment: 'DEC of reference point' },
    { keyword: 'CRPIX1', value: w.crpix1, comment: 'X reference pixel' },
    { keyword: 'CRPIX2', value: w.crpix2, comment: 'Y reference pixel' },
    { keyword: 'CUNIT1', value: 'deg', comment: 'X pixel scale units' },
    { keyword: 'CUNIT2', value: 'deg', comment: 'Y pixel scale units' },
    { keyword: 'CD1_1', value: w.cd11, comment: 'Transformation matrix' },
    { keyword: 'CD1_2', value: w.cd12 },
    { keyword: 'CD2_1', value: w.cd21 },
    { keyword: 'CD2_2', value: w.cd22 },
    { keyword: 'IMAGEW', value: w.imagew, comment: 'Image width,  in pixels.' },
    { keyword: 'IMAGEH', value: w.imageh, comment: 'Image height, in pixels.' },
    { keyword: 'COMMENT', comment: 'Simulated solution (astrometry-net serve, simulated backend)' },
  ];
}

async function writeLog(jobDir: string, lines: string[]): Promise<string> {
  const p = join(jobDir, 'job.log');
  await writeFile(p, lines.join('\n') + '\n');
  return p;
}
