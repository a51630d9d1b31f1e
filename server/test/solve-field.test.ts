/**
 * The solve-field backend against the real solver (Debian's astrometry.net + Tycho-2 index;
 * see scripts/install-solver.sh). Fixtures live in test/fixtures (copies of the project's
 * shared star fields with their true WCS) and assets/ (the project's own sample image).
 * Nothing here is skipped: a missing solver or fixture fails the tests.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { ParsedUploadOptions, SolveOutcome, SolveRequest } from '../src/solver-backend.js';
import { backstopMs, createSolveFieldBackend, parseObjectList } from '../src/solvers/solve-field/backend.js';
import { optionArgs } from '../src/solvers/solve-field/command-line.js';
import { readBinTable, writeXyTable } from 'astrometry-net-client/fits';
import { calibrationFromTan, tanPixelToRadec, type TanWcs } from '../src/solvers/solve-field/tan-wcs.js';

// The fixtures and the sample image are the repository's (test/fixtures, assets), shared with the client's tests.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const ASSETS = path.join(ROOT, 'assets');

interface Truth {
  ra: number;
  dec: number;
  width: number;
  height: number;
  scale_arcsec: number;
  rot_deg: number;
  crpix: [number, number];
  cd: [[number, number], [number, number]];
}

const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function jobDirWith(
  source: string,
  name: string,
  transform?: (b: Buffer) => Buffer,
  subdir?: string,
): Promise<{ jobDir: string; input: string }> {
  const top = await mkdtemp(path.join(tmpdir(), 'solve-field-test-'));
  tempDirs.push(top);
  const jobDir = subdir ? path.join(top, subdir) : top;
  await mkdir(jobDir, { recursive: true });
  const input = path.join(jobDir, name);
  if (transform) await writeFile(input, transform(await readFile(source)));
  else await copyFile(source, input);
  return { jobDir, input };
}

function request(jobDir: string, input: string, extra: Partial<SolveRequest> = {}): SolveRequest {
  return {
    jobDir,
    inputPath: input,
    kind: 'image',
    originalFilename: path.basename(input),
    options: {},
    signal: new AbortController().signal,
    ...extra,
  };
}

async function loadTruth(file: string): Promise<Truth> {
  return JSON.parse(await readFile(file, 'utf8')) as Truth;
}

function truthTan(t: Truth): TanWcs {
  return {
    crval1: t.ra,
    crval2: t.dec,
    crpix1: t.crpix[0],
    crpix2: t.crpix[1],
    cd11: t.cd[0][0],
    cd12: t.cd[0][1],
    cd21: t.cd[1][0],
    cd22: t.cd[1][1],
    imagew: t.width,
    imageh: t.height,
  };
}

/** Great-circle distance in degrees. */
function separation(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const r = Math.PI / 180;
  const a =
    Math.sin(((dec2 - dec1) * r) / 2) ** 2 + Math.cos(dec1 * r) * Math.cos(dec2 * r) * Math.sin(((ra2 - ra1) * r) / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(a)))) / r;
}

/** Smallest absolute difference of two angles, degrees. */
function angleDiff(a: number, b: number): number {
  const d = (((a - b) % 360) + 540) % 360 - 180;
  return Math.abs(d);
}

async function pngSize(file: string): Promise<{ width: number; height: number }> {
  const b = await readFile(file);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

function expectMatchesTruth(outcome: SolveOutcome, truth: Truth): void {
  expect(outcome.status).toBe('success');
  const cal = outcome.calibration;
  expect(cal).toBeDefined();
  if (!cal) return;
  // The truth's ra/dec sit at crpix, the image centre; evaluate the truth WCS there anyway.
  const centre = tanPixelToRadec(truthTan(truth), 0.5 + truth.width / 2, 0.5 + truth.height / 2);
  expect(separation(centre.ra, centre.dec, truth.ra, truth.dec)).toBeLessThan(1e-9);
  expect(separation(cal.ra, cal.dec, centre.ra, centre.dec)).toBeLessThan(0.01);
  expect(Math.abs(cal.pixscale / truth.scale_arcsec - 1)).toBeLessThan(0.005);
  expect(cal.parity).toBe(-1); // every fixture has det(CD) < 0
  expect(cal.radius).toBeCloseTo((cal.pixscale * Math.hypot(truth.width, truth.height)) / 2 / 3600, 9);
  expect(cal.width_arcsec).toBeCloseTo(truth.width * cal.pixscale, 6);
  expect(cal.height_arcsec).toBeCloseTo(truth.height * cal.pixscale, 6);
}

const backend = createSolveFieldBackend();
const timings: Record<string, number> = {};
let smallAxy: string | undefined;

async function solveTimed(label: string, req: SolveRequest): Promise<SolveOutcome> {
  const t0 = performance.now();
  const outcome = await backend.solve(req);
  timings[label] = Math.round(performance.now() - t0);
  return outcome;
}

afterAll(() => {
  console.log(`solve-field timings (ms): ${JSON.stringify(timings)}`);
});

describe('solve-field backend: images', () => {
  it('has the name solve-field', () => {
    expect(backend.name).toBe('solve-field');
  });

  for (const name of ['small', 'orion', 'south'] as const) {
    it(`solves ${name}.png blind and reports nova's calibration`, async () => {
      const truth = await loadTruth(path.join(FIXTURES, `${name}.truth.json`));
      const { jobDir, input } = await jobDirWith(path.join(FIXTURES, `${name}.png`), `${name}.png`);
      const outcome = await solveTimed(`${name}.png`, request(jobDir, input));
      expectMatchesTruth(outcome, truth);
      // PNG input: nova flips the orientation to (180 - o + 360) % 360.
      const o = outcome.calibration?.orientation ?? NaN;
      expect(o).toBeGreaterThanOrEqual(0);
      expect(o).toBeLessThan(360);
      expect(angleDiff(180 - o, truth.rot_deg)).toBeLessThan(2.5);

      const f = outcome.files;
      for (const key of ['wcs', 'newFits', 'rdls', 'axy', 'corr', 'imageRd', 'joblog'] as const) {
        expect(f[key], key).toBeDefined();
        expect(existsSync(f[key] as string), key).toBe(true);
        expect(path.dirname(f[key] as string)).toBe(jobDir);
      }
      for (const key of ['annotatedFull', 'annotatedDisplay', 'redGreenFull', 'redGreenDisplay', 'extractionFull', 'extractionDisplay'] as const) {
        expect(f[key], key).toBeDefined();
        expect(existsSync(f[key] as string), key).toBe(true);
      }
      expect((await readFile(f.annotatedFull as string)).subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
      const display = await pngSize(f.redGreenDisplay as string);
      expect(Math.max(display.width, display.height)).toBeLessThanOrEqual(640);
      expect(await pngSize(f.extractionFull as string)).toEqual({ width: truth.width, height: truth.height });
      // The job log is the engine's verbose log, as nova's: from its index scan to its closing line.
      const joblog = await readFile(f.joblog as string, 'utf8');
      expect(joblog).toMatch(/solved with index/);
      expect(joblog).toMatch(/^Auto-indexing directory "[^"]+" \.\.\.\n/);
      expect(joblog).toMatch(/\nSpent [\d.]+ seconds on this field\.\n$/);
      expect(joblog).not.toMatch(/^Reading input file/m);
      expect(await readFile(path.join(jobDir, 'solve-field.log'), 'utf8')).toMatch(/^Reading input file 1 of 1/);

      expect(outcome.objectsInField.length).toBeGreaterThan(0);
      expect(outcome.machineTags).toEqual(outcome.objectsInField);
      expect(outcome.tags).toEqual(outcome.objectsInField);
      if (name === 'small') smallAxy = f.axy;
    });
  }

  it('solves small.fits (FITS input: orientation not flipped, in (-180, 180])', async () => {
    const truth = await loadTruth(path.join(FIXTURES, 'small.truth.json'));
    // Named like one of the solver's outputs on purpose: an upload may be called anything.
    const { jobDir, input } = await jobDirWith(path.join(FIXTURES, 'small.fits.gz'), 'wcs.fits', (b) => gunzipSync(b));
    const original = await readFile(input);
    const outcome = await solveTimed('small.fits', request(jobDir, input));
    expectMatchesTruth(outcome, truth);
    expect((await readFile(input)).equals(original)).toBe(true);
    expect(path.dirname(outcome.files.wcs as string)).toBe(path.join(jobDir, 'solve-field-output'));
    const o = outcome.calibration?.orientation ?? NaN;
    expect(o).toBeGreaterThan(-180);
    expect(o).toBeLessThanOrEqual(180);
    expect(angleDiff(o, truth.rot_deg)).toBeLessThan(2.5);
    expect(outcome.files.newFits).toBeDefined();
  });

  it("solves the project's own sample image (assets/sample.png)", async () => {
    const truth = await loadTruth(path.join(ASSETS, 'sample.truth.json'));
    // Spaces, quotes and parentheses in the paths: the argv never meets a shell.
    const { jobDir, input } = await jobDirWith(path.join(ASSETS, 'sample.png'), "my sample (1).png", undefined, "job dir 'x'");
    const outcome = await solveTimed('sample.png', request(jobDir, input));
    expectMatchesTruth(outcome, truth);
    expect(outcome.files.annotatedFull).toBeDefined();
    expect(path.dirname(outcome.files.wcs as string)).toBe(jobDir);
    expect(angleDiff(180 - (outcome.calibration?.orientation ?? NaN), truth.rot_deg)).toBeLessThan(2.5);
    expect(outcome.objectsInField.join('\n')).toMatch(/Orion/);
    // Annotations from plot-constellations: named bright stars, and NGC/IC objects with a radius.
    const anns = JSON.parse(await readFile(outcome.files.annotations as string, 'utf8')) as { type: string; names: string[]; pixelx: number; pixely: number; radius: number }[];
    expect(anns.some((a) => a.type === 'bright' && a.radius === 0 && a.names.length > 0)).toBe(true);
    expect(anns.some((a) => (a.type === 'ngc' || a.type === 'ic') && a.radius > 0)).toBe(true);
    for (const a of anns) {
      expect(a.pixelx).toBeGreaterThan(-1);
      expect(a.pixelx).toBeLessThan(truth.width + 1);
    }
    // Every NGC/IC object in the field, whatever its size (as `-F 0` lists them), and the
    // catalogue's V magnitude on every named bright star.
    const listed = spawnSync('plot-constellations', ['-w', outcome.files.wcs as string, '-N', '-F', '0', '-L'], { encoding: 'utf8' }).stdout;
    const everyNgc = listed.split('\n').filter((l) => /^(NGC|IC) \d/.test(l)).map((l) => l.split(' / ')[0]).sort();
    expect(everyNgc.length).toBeGreaterThan(0);
    expect(anns.filter((a) => a.type === 'ngc' || a.type === 'ic').map((a) => a.names[0]).sort()).toEqual(everyNgc);
    for (const a of anns.filter((x) => x.type === 'bright')) expect((a as { vmag?: number }).vmag, a.names[0]).toEqual(expect.any(Number));
  });

  it('ends pure noise as a failure, with the log and no calibration', async () => {
    const { jobDir, input } = await jobDirWith(path.join(FIXTURES, 'noise.png'), 'noise.png');
    // A stale result of an earlier run in the same directory must not count.
    await writeFile(path.join(jobDir, 'wcs.fits'), 'stale');
    const outcome = await solveTimed('noise.png', request(jobDir, input));
    expect(outcome.status).toBe('failure');
    expect(outcome.calibration).toBeUndefined();
    expect(outcome.files.wcs).toBeUndefined();
    expect(existsSync(path.join(jobDir, 'wcs.fits'))).toBe(false);
    expect(outcome.files.joblog).toBeDefined();
    const joblog = await readFile(outcome.files.joblog as string, 'utf8');
    expect(joblog).toMatch(/^Field 1 did not solve\./m);
    // Blind, it says what this server covers and what to install for narrower fields.
    expect(outcome.failureReason).toMatch(/^Not solved: this server's index files serve fields 22'–180° wide; a field narrower than 22' needs index scales 00–06: astrometry\.net's 5200 or 4200 series/);
    expect(outcome.failureReason).toContain('astrometry-net indexes install --width 0.033-0.37');
    expect(joblog).toContain(outcome.failureReason);
    expect(outcome.tags).toEqual([]);
    expect(outcome.objectsInField).toEqual([]);
  });
});

describe('solve-field backend: options', () => {
  it('fails when the scale bounds exclude the true scale', async () => {
    const { jobDir, input } = await jobDirWith(path.join(FIXTURES, 'small.png'), 'small.png');
    // The truth is 45"/px. Bounds no installed index covers fail at once; bounds some index
    // covers (say 5-10"/px) also fail, but only when the CPU limit runs out.
    const options: ParsedUploadOptions = { scale_units: 'arcsecperpix', scale_type: 'ul', scale_lower: 0.5, scale_upper: 1 };
    const outcome = await solveTimed('small.png wrong scale', request(jobDir, input, { options }));
    expect(outcome.status).toBe('failure');
    expect(await readFile(outcome.files.joblog as string, 'utf8')).toMatch(/scale|did not solve/i);
  });

  it('solves with a correct scale estimate and position hint', async () => {
    const truth = await loadTruth(path.join(FIXTURES, 'orion.truth.json'));
    const { jobDir, input } = await jobDirWith(path.join(FIXTURES, 'orion.png'), 'orion.png');
    const options: ParsedUploadOptions = {
      scale_units: 'arcsecperpix',
      scale_type: 'ev',
      scale_est: 20,
      scale_err: 5,
      center_ra: 84.5,
      center_dec: -3.5,
      radius: 10,
      downsample_factor: 2,
      tweak_order: 0,
      parity: 0,
    };
    const outcome = await solveTimed('orion.png hinted', request(jobDir, input, { options }));
    expectMatchesTruth(outcome, truth);
  });

  it('maps options the way nova does, dropping falsy values', () => {
    const argv = optionArgs(
      {
        scale_units: 'degwidth',
        scale_type: 'ul',
        scale_lower: 0,
        scale_upper: 10,
        center_ra: 0,
        center_dec: -5.5,
        radius: 0,
        downsample_factor: 2,
        tweak_order: 0,
        use_sextractor: false,
        crpix_center: true,
        invert: true,
        parity: 1,
        positional_error: 0,
        image_width: 100,
      },
      { kind: 'image' },
    );
    expect(argv).toEqual([
      '--scale-high', '10',
      '--scale-units', 'degwidth',
      '--dec', '-5.5',
      '--downsample', '2',
      '--parity', 'neg',
      '--no-tweak',
      '--crpix-center',
      '--invert',
    ]);
    expect(optionArgs({ scale_type: 'ev', scale_est: 10, scale_err: 50, scale_units: 'app', tweak_order: 3, parity: 2 }, { kind: 'image' })).toEqual([
      '--scale-low', '5',
      '--scale-high', '15',
      '--scale-units', 'arcsecperpix',
      '--tweak-order', '3',
    ]);
    expect(optionArgs({ positional_error: 1.5, use_sextractor: true, parity: 0 }, { kind: 'xylist', xylistSize: { width: 640, height: 480 }, xColumn: 'x', yColumn: 'y' })).toEqual([
      '--pixel-error', '1.5',
      '--width', '640',
      '--height', '480',
      '--x-column', 'x',
      '--y-column', 'y',
      '--parity', 'pos',
      '--use-source-extractor',
    ]);
    expect(() => optionArgs({ center_ra: Number.NaN }, { kind: 'image' })).toThrow(/finite/);
    expect(() => optionArgs({ scale_lower: Number.POSITIVE_INFINITY }, { kind: 'image' })).toThrow(/finite/);
    expect(() => optionArgs({ scale_type: 'ev' }, { kind: 'image' })).toThrow(/scale_est/);
    expect(() => optionArgs({ scale_type: 'xx' }, { kind: 'image' })).toThrow(/scale_type/);
    expect(() => optionArgs({ scale_units: '--evil' }, { kind: 'image' })).toThrow(/scale_units/);
  });

  it('fails invalid options as a job failure without running the solver', async () => {
    const { jobDir, input } = await jobDirWith(path.join(FIXTURES, 'small.png'), 'small.png');
    const outcome = await backend.solve(request(jobDir, input, { options: { center_ra: Number.NaN } }));
    expect(outcome.status).toBe('failure');
    expect(await readFile(outcome.files.joblog as string, 'utf8')).toMatch(/not run: option center_ra is not a finite number/);
    expect(outcome.files.axy).toBeUndefined();
  });
});

describe('solve-field backend: source lists', () => {
  it('solves an x,y FITS table with the image width and height, and sizes the calibration by the list, as nova', async () => {
    let axy = smallAxy;
    if (!axy) {
      const { jobDir, input } = await jobDirWith(path.join(FIXTURES, 'small.png'), 'small.png');
      axy = (await backend.solve(request(jobDir, input))).files.axy;
    }
    expect(axy).toBeDefined();
    const table = readBinTable(await readFile(axy as string));
    expect(table).toBeDefined();
    if (!table) return;
    // Sources of the lower-left part only: the list's extent is then smaller than the image.
    const allY = table.column('Y');
    const inBox = [...table.column('X')].map((x, i) => x < 520 && (allY[i] ?? 0) < 400);
    const xs = table.column('X').filter((_, i) => inBox[i]);
    const ys = table.column('Y').filter((_, i) => inBox[i]);
    expect(xs.length).toBeGreaterThan(30);
    const truth = await loadTruth(path.join(FIXTURES, 'small.truth.json'));
    const jobDir = await mkdtemp(path.join(tmpdir(), 'solve-field-test-'));
    tempDirs.push(jobDir);
    const input = path.join(jobDir, 'sources.fits');
    await writeFile(input, writeXyTable(xs, ys));
    const outcome = await solveTimed(
      'small xylist',
      request(jobDir, input, { kind: 'xylist', originalFilename: 'json-xy', options: { image_width: 640, image_height: 480 } }),
    );
    expect(outcome.status).toBe('success');
    const cal = outcome.calibration;
    if (!cal) throw new Error('no calibration');
    // nova: the calibration of a source list is that of a ceil(max x) x ceil(max y) image,
    // whatever image_width/height said, so its centre is the centre of that box.
    const w = Math.ceil(Math.max(...xs));
    const h = Math.ceil(Math.max(...ys));
    expect([w, h]).not.toEqual([640, 480]);
    const centre = tanPixelToRadec(truthTan(truth), 0.5 + w / 2, 0.5 + h / 2);
    expect(separation(cal.ra, cal.dec, centre.ra, centre.dec)).toBeLessThan(0.01);
    expect(Math.abs(cal.pixscale / truth.scale_arcsec - 1)).toBeLessThan(0.005);
    expect(cal.width_arcsec).toBeCloseTo(w * cal.pixscale, 6);
    expect(cal.height_arcsec).toBeCloseTo(h * cal.pixscale, 6);
    expect(cal.radius).toBeCloseTo((cal.pixscale * Math.hypot(w, h)) / 2 / 3600, 9);
    // A source list is a FITS table: no orientation flip.
    expect(angleDiff(outcome.calibration?.orientation ?? NaN, truth.rot_deg)).toBeLessThan(2.5);
    expect(outcome.files.newFits).toBeUndefined();
    expect(outcome.files.wcs).toBeDefined();
  });
});

describe('solve-field backend: stopping', () => {
  it('kills the solver when the request is aborted', async () => {
    const { jobDir, input } = await jobDirWith(path.join(FIXTURES, 'south.png'), 'south.png');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const outcome = await backend.solve(request(jobDir, input, { signal: ac.signal }));
    expect(outcome.status).toBe('failure');
    expect(await readFile(outcome.files.joblog as string, 'utf8')).toMatch(/killed \(aborted\)/);
  });

  it('has a wall-clock limit well above the CPU limit: a backstop, so under load the CPU limit decides', async () => {
    expect(backstopMs(60)).toBe(660_000);
    expect(backstopMs(600)).toBe(6_000_000);
    const info = await createSolveFieldBackend({ cpuLimitSeconds: 60 }).describe?.();
    expect(info?.limits).toEqual({ cpuLimitSeconds: 60, timeoutSeconds: 660 });
  });

  it('kills the solver at the wall-clock limit', async () => {
    const quick = createSolveFieldBackend({ timeoutMs: 150 });
    const { jobDir, input } = await jobDirWith(path.join(FIXTURES, 'south.png'), 'south.png');
    const outcome = await quick.solve(request(jobDir, input));
    expect(outcome.status).toBe('failure');
    expect(await readFile(outcome.files.joblog as string, 'utf8')).toMatch(/killed \(time limit reached\)/);
  });

  it('reports a missing solver as a failure', async () => {
    const lines: string[] = [];
    const missing = createSolveFieldBackend({ solveFieldPath: '/nonexistent/solve-field', log: (l) => lines.push(l) });
    const { jobDir, input } = await jobDirWith(path.join(FIXTURES, 'small.png'), 'small.png');
    const outcome = await missing.solve(request(jobDir, input));
    expect(outcome.status).toBe('failure');
    expect(lines.join('\n')).toMatch(/could not run/);
  });
});

describe('solve-field helpers', () => {
  it("computes nova's calibration from a TAN WCS", () => {
    // wcsinfo on a real solve of small.png: orientation 21.592639, pixscale 44.9876447074.
    const tan: TanWcs = {
      crval1: 188.905118285,
      crval2: 56.1932444029,
      crpix1: 227.35426712,
      crpix2: 232.510518392,
      cd11: -0.0116187329984,
      cd12: 0.00460028038835,
      cd21: 0.00459732107827,
      cd22: 0.0116204792002,
      imagew: 640,
      imageh: 480,
    };
    const fits = calibrationFromTan(tan, false);
    expect(fits.orientation).toBeCloseTo(21.592639, 5);
    expect(fits.pixscale).toBeCloseTo(44.9876447074, 6);
    expect(fits.parity).toBe(-1);
    expect(fits.ra).toBeCloseTo(187.0, 1);
    expect(fits.dec).toBeCloseTo(56.7, 1);
    const png = calibrationFromTan(tan, true);
    expect(png.orientation).toBeCloseTo(180 - 21.592639, 5);
    expect(calibrationFromTan({ ...tan, cd11: -tan.cd11, cd21: -tan.cd21 }, false).parity).toBe(1);
  });

  it('splits plot-constellations lists like nova, keeping parenthesised aliases together', () => {
    expect(
      parseObjectList('Part of the constellation Orion (Ori)\nNGC 1976 / M 42\nThe star Megrez / Kaffa (δ UMa / 69 UMa)\n\nNGC 1976\n'),
    ).toEqual(['Part of the constellation Orion (Ori)', 'NGC 1976', 'M 42', 'The star Megrez', 'Kaffa (δ UMa', '69 UMa)']);
  });

  it('round-trips an x,y table through the FITS writer and reader', () => {
    const t = readBinTable(writeXyTable([1.5, 2.5, 640], [3, 4, 480]));
    expect(t?.rows).toBe(3);
    expect(t?.columnNames).toEqual(['x', 'y']);
    expect([...(t?.column('X') ?? [])]).toEqual([1.5, 2.5, 640]);
    expect([...(t?.column('y') ?? [])]).toEqual([3, 4, 480]);
  });
});
