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
import { Client, JobFailedError, type SolveResult } from '../src/index.js';
import { parseHeader, readHdus, readXyColumns } from '../src/fits/index.js';
import { buildCli, FIXTURES } from './helpers/cli-run.js';
import { expectNear, randomApiKey, startServe, truthOf, type Serve } from './helpers/serve-process.js';

const POLLING = { minIntervalMs: 200, maxIntervalMs: 1000 };
const API_KEY = randomApiKey();

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
      expect(String(wcs.header.get('CTYPE1'))).toMatch(/^RA---TAN/);
      expect(String(wcs.header.get('CTYPE2'))).toMatch(/^DEC--TAN/);
      expect([wcs.imageWidth, wcs.imageHeight]).toEqual([truth.width, truth.height]);
      // The WCS puts the image centre where the calibration says.
      expectNear(wcs.center.ra, wcs.center.dec, wcs.pixelScale, truth);
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
    const { x, y } = readXyColumns(axy.bytes)!;
    expect(x.length).toBeGreaterThan(50);
    expect(x.every((v) => v > 0 && v <= truth.width + 1)).toBe(true);
    expect(y.every((v) => v > 0 && v <= truth.height + 1)).toBe(true);
    const result = await timed('source list', client.solve({ sourceList: { x, y } }, { imageWidth: truth.width, imageHeight: truth.height }));
    // As nova: a source list's calibration is that of a ceil(max x) x ceil(max y) image, whatever
    // image_width/height said, so its centre is where the image's WCS puts that box's centre.
    const w = Math.ceil(Math.max(...x));
    const h = Math.ceil(Math.max(...y));
    const centre = (await small.wcs()).pixelToSky(0.5 + w / 2, 0.5 + h / 2);
    expectNear(result.calibration.ra, result.calibration.dec, result.calibration.pixscale, { ...truth, ra: centre.ra, dec: centre.dec });
    expect(result.calibration.width_arcsec).toBeCloseTo(w * result.calibration.pixscale, 3);
    expect((await result.job.info()).original_filename).toBe('json-xy');
  });

  it('reports the quality of a real solution: one matched star per row of the corr file, their RMS residual and the log-odds', async () => {
    const result = await solved('small.fits');
    const quality = await result.quality();
    const corr = await result.job.corrFile();
    const wcs = await result.wcsFile();
    // The rows as the corr file's own table header counts them (NAXIS2 of its BINTABLE).
    const table = readHdus(corr.bytes).find((h) => h.header.get('XTENSION') === 'BINTABLE');
    expect(quality.matchedStars).toBe(table?.header.number('NAXIS2'));
    expect(quality.matchedStars).toBeGreaterThanOrEqual(8);
    // A true solution: matches within a pixel or so, and far from suspect.
    expect(quality.rmsArcsec).toBeGreaterThan(0);
    expect(quality.rmsArcsec).toBeLessThan(result.calibration.pixscale);
    expect(quality.suspect).toBe(false);
    // The log-odds solve-field wrote among the WCS header's comments.
    const line = parseHeader(wcs.bytes).header.cards.find((c) => c.keyword === 'COMMENT' && /^log odds:/.test(c.comment ?? ''));
    expect(quality.logOdds).toBe(Number(line?.comment?.split(':')[1]));
    expect(quality.logOdds).toBeGreaterThan(20);
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
