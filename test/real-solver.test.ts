/**
 * This package's client against `astrometry-net serve` on the real solver (Debian's solve-field
 * and the Tycho-2 index; scripts/install-solver.sh): the fixtures solve to their true WCS, pure
 * noise ends as a job failure, and a source list taken from a solved job's axy file solves too.
 *
 * The server is the real command (`node dist/src/cli/main.js serve`), started once for the file
 * and stopped with SIGTERM at the end. Nothing here is skipped: a missing solver fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, JobFailedError, type FitsHeader, type SolveResult } from '../src/index.js';
import { buildCli, FIXTURES } from './helpers/cli-run.js';
import { expectNear, randomApiKey, startServe, truthOf, type Serve } from './helpers/serve-process.js';


const POLLING = { firstDelayMs: 200, minIntervalMs: 200, maxIntervalMs: 1000 };
const API_KEY = randomApiKey();



const num = (h: FitsHeader, k: string): number => {
  const v = h.get(k);
  expect(typeof v, `${k} in the WCS header`).toBe('number');
  return v as number;
};

/** The TAN part of a WCS header evaluated at a FITS pixel (1-based): the gnomonic projection. */
function tanPixelToRadec(h: FitsHeader, px: number, py: number): { ra: number; dec: number } {
  const r = Math.PI / 180;
  const dx = px - num(h, 'CRPIX1');
  const dy = py - num(h, 'CRPIX2');
  const x = (num(h, 'CD1_1') * dx + num(h, 'CD1_2') * dy) * r; // intermediate coordinates (east, north), radians
  const y = (num(h, 'CD2_1') * dx + num(h, 'CD2_2') * dy) * r;
  const ra0 = num(h, 'CRVAL1') * r;
  const dec0 = num(h, 'CRVAL2') * r;
  // The tangent point plus the offset along the unit vectors east and north there.
  const [ex, ey] = [-Math.sin(ra0), Math.cos(ra0)];
  const [nx, ny, nz] = [-Math.sin(dec0) * Math.cos(ra0), -Math.sin(dec0) * Math.sin(ra0), Math.cos(dec0)];
  const [cx, cy, cz] = [Math.cos(dec0) * Math.cos(ra0), Math.cos(dec0) * Math.sin(ra0), Math.sin(dec0)];
  const vx = cx + x * ex + y * nx;
  const vy = cy + x * ey + y * ny;
  const vz = cz + y * nz;
  const norm = Math.hypot(vx, vy, vz);
  return { ra: ((Math.atan2(vy, vx) / r) % 360 + 360) % 360, dec: Math.asin(vz / norm) / r };
}

/** The X and Y columns of the first binary table in a FITS file (solve-field's axy file). */
function readXyTable(bytes: Uint8Array): { x: number[]; y: number[] } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset < buf.length) {
    const cards = new Map<string, string>();
    for (let end = false; !end; offset += 2880) {
      if (offset + 2880 > buf.length) throw new Error('truncated FITS header');
      for (let c = 0; c < 36; c++) {
        const card = buf.toString('latin1', offset + c * 80, offset + c * 80 + 80);
        const key = card.slice(0, 8).trim();
        if (key === 'END') end = true;
        else if (!end && card.slice(8, 10) === '= ') cards.set(key, card.slice(10).split('/')[0]?.trim().replace(/^'(.*?)\s*'$/, '$1') ?? '');
      }
    }
    const int = (k: string) => Number(cards.get(k) ?? '0');
    const naxis = int('NAXIS');
    let size = 0;
    if (naxis > 0) {
      size = Math.abs(int('BITPIX')) / 8;
      for (let i = 1; i <= naxis; i++) size *= int(`NAXIS${i}`);
      size = (size + int('PCOUNT')) * Math.max(1, int('GCOUNT'));
    }
    if (cards.get('XTENSION') === 'BINTABLE') {
      const rowBytes = int('NAXIS1');
      const rows = int('NAXIS2');
      const widths: Record<string, number> = { L: 1, B: 1, I: 2, J: 4, K: 8, A: 1, E: 4, D: 8, C: 8, M: 16 };
      const columns = new Map<string, { at: number; type: string }>();
      let at = 0;
      for (let i = 1; i <= int('TFIELDS'); i++) {
        const m = /^(\d*)([LXBIJKAEDCM])/.exec(cards.get(`TFORM${i}`) ?? '');
        if (!m) throw new Error(`unreadable TFORM${i}`);
        const repeat = m[1] === '' ? 1 : Number(m[1]);
        const type = m[2] as string;
        columns.set((cards.get(`TTYPE${i}`) ?? '').toUpperCase(), { at, type });
        at += type === 'X' ? Math.ceil(repeat / 8) : repeat * (widths[type] as number);
      }
      const column = (name: string): number[] => {
        const col = columns.get(name);
        if (!col) throw new Error(`no column ${name}`);
        const read: Record<string, (o: number) => number> = {
          E: (o) => buf.readFloatBE(o),
          D: (o) => buf.readDoubleBE(o),
          I: (o) => buf.readInt16BE(o),
          J: (o) => buf.readInt32BE(o),
        };
        const f = read[col.type];
        if (!f) throw new Error(`column ${name} has type ${col.type}`);
        return Array.from({ length: rows }, (_, r) => f(offset + r * rowBytes + col.at));
      };
      return { x: column('X'), y: column('Y') };
    }
    offset += Math.ceil(size / 2880) * 2880;
  }
  throw new Error('no binary table in the file');
}



const started = performance.now();
const timings: Record<string, number> = {};
const tempDirs: string[] = [];
let serve: Serve | undefined;
let client: Client;
let fitsPath: string;

/** Solves started together in beforeAll (the server runs two at once); each test awaits its own. */
const solves = new Map<string, Promise<SolveResult>>();

function timed(label: string, p: Promise<SolveResult>): Promise<SolveResult> {
  const t0 = performance.now();
  const out = p.finally(() => (timings[label] = Math.round(performance.now() - t0)));
  out.catch(() => undefined); // awaited (and asserted) by its test
  return out;
}

async function setUp(): Promise<void> {
  const probe = spawnSync('solve-field', ['--help'], { encoding: 'utf8' });
  if (probe.error) throw new Error(`solve-field is not installed (${probe.error.message}); run scripts/install-solver.sh`);
  await buildCli();
  const dir = await mkdtemp(path.join(tmpdir(), 'real-solver-test-'));
  tempDirs.push(dir);
  fitsPath = path.join(dir, 'small.fits');
  await writeFile(fitsPath, gunzipSync(await readFile(path.join(FIXTURES, 'small.fits.gz'))));
  serve = await startServe(API_KEY);
  // A deadline well inside the test timeout: a stuck solve fails its test instead of hanging the file.
  client = new Client({ apiUrl: serve.apiUrl, apiKey: API_KEY, polling: POLLING, timeoutMs: 50_000 });
  // Noise first: its failure is reported while the others still queue.
  solves.set('noise.png', timed('noise.png', client.solve({ file: path.join(FIXTURES, 'noise.png') })));
  for (const name of ['small.png', 'orion.png', 'south.png']) {
    solves.set(name, timed(name, client.solve({ file: path.join(FIXTURES, name) })));
  }
  solves.set('small.fits', timed('small.fits', client.solve({ file: fitsPath })));
}

/** Set up once; every test awaits it, so a missing solver fails each test rather than skipping it. */
let ready: Promise<void>;
beforeAll(() => {
  ready = setUp();
  ready.catch(() => undefined);
});

async function solved(label: string): Promise<SolveResult> {
  await ready;
  return solves.get(label) as Promise<SolveResult>;
}

afterAll(async () => {
  await Promise.allSettled([...solves.values()]);
  if (serve && serve.child.exitCode === null) serve.child.kill('SIGKILL');
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
  console.log(`real-solver timings (ms): ${JSON.stringify({ ...timings, file: Math.round(performance.now() - started) })}`);
});

describe('the client against `astrometry-net serve --solver solve-field`', () => {
  it('runs the real solver', async () => {
    await ready;
    expect(serve?.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/$/);
    expect(serve?.stderr()).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+ \(solver: solve-field/);
  });

  for (const [label, truthName] of [
    ['small.png', 'small'],
    ['small.fits', 'small'],
    ['orion.png', 'orion'],
    ['south.png', 'south'],
  ] as const) {
    it(`solves ${label} to its true centre and scale, with a WCS file`, async () => {
      const truth = await truthOf(truthName);
      const result = await solved(label);
      const cal = result.calibration;
      expectNear(cal.ra, cal.dec, cal.pixscale, truth);
      expect(result.subid).toBeGreaterThan(0);
      expect(result.hash).toMatch(/^[0-9a-f]{40}$/);

      const wcs = await result.wcs();
      for (const k of ['CRVAL1', 'CRVAL2', 'CRPIX1', 'CRPIX2', 'CD1_1', 'CD1_2', 'CD2_1', 'CD2_2']) num(wcs, k);
      expect(String(wcs.get('CTYPE1'))).toMatch(/^RA---TAN/);
      expect(String(wcs.get('CTYPE2'))).toMatch(/^DEC--TAN/);
      expect([num(wcs, 'IMAGEW'), num(wcs, 'IMAGEH')]).toEqual([truth.width, truth.height]);
      // The header's TAN part puts the image centre where the calibration says.
      const centre = tanPixelToRadec(wcs, (truth.width + 1) / 2, (truth.height + 1) / 2);
      const cd = [num(wcs, 'CD1_1'), num(wcs, 'CD1_2'), num(wcs, 'CD2_1'), num(wcs, 'CD2_2')] as const;
      const scale = Math.sqrt(Math.abs(cd[0] * cd[3] - cd[1] * cd[2])) * 3600;
      expectNear(centre.ra, centre.dec, scale, truth);
    });
  }

  it('ends pure noise as a JobFailedError with the submission and job ids', async () => {
    const error = await solved('noise.png').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(JobFailedError);
    const failed = error as JobFailedError;
    expect(failed.code).toBe('job_failed');
    expect(failed.subid).toBeGreaterThan(0);
    expect(failed.jobId).toBeGreaterThan(0);
  });

  it('solves a source list taken from a solved job\'s axy file', async () => {
    const truth = await truthOf('small');
    const small = await solved('small.png');
    const axy = await small.job.axyFile();
    const { x, y } = readXyTable(axy.bytes);
    expect(x.length).toBeGreaterThan(50);
    expect(x.every((v) => v > 0 && v <= truth.width + 1)).toBe(true);
    expect(y.every((v) => v > 0 && v <= truth.height + 1)).toBe(true);
    const result = await timed('source list', client.solve({ sourceList: { x, y } }, { imageWidth: truth.width, imageHeight: truth.height }));
    // As nova: a source list's calibration is that of a ceil(max x) x ceil(max y) image, whatever
    // image_width/height said, so its centre is where the image's WCS puts that box's centre.
    const w = Math.ceil(Math.max(...x));
    const h = Math.ceil(Math.max(...y));
    const centre = tanPixelToRadec(await small.wcs(), 0.5 + w / 2, 0.5 + h / 2);
    expectNear(result.calibration.ra, result.calibration.dec, result.calibration.pixscale, { ...truth, ra: centre.ra, dec: centre.dec });
    expect(result.calibration.width_arcsec).toBeCloseTo(w * result.calibration.pixscale, 3);
    expect((await result.job.info()).original_filename).toBe('json-xy');
  });

  it('stops on SIGTERM with exit code 0', async () => {
    await ready;
    await Promise.allSettled([...solves.values()]);
    const s = serve as Serve;
    s.child.kill('SIGTERM');
    const { code, signal } = await s.exit;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });
});
