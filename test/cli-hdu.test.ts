/**
 * `astrometry-net solve --hdu N|all` on a multi-extension FITS file (made here with src/fits),
 * run as a user runs it against the in-repo server (simulated solver): each image HDU is
 * uploaded as a FITS file of its own, and the merged copy carries each HDU's own WCS in that
 * HDU's header, as astrometry.net's own `wcs-xy2rd -e N` reads it. A non-image HDU is refused
 * before any request, naming the image HDUs there are.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SolveJsonDocument } from '../src/cli/json-schema.js';
import { BLOCK, binTable, emptyPrimary, headerBytes, parseHeader, readHdus, readImage } from '../src/fits/index.js';
import { buildCli, FIXTURES, GOOD_KEY, runCli, startTestServer, type TestServer } from './helpers/cli-run.js';
import { truthOf } from './helpers/serve-process.js';

let nova: TestServer;
let work: string;

/** An IMAGE extension: the image of a single-HDU FITS file (its header cards, its data). */
function imageExtension(fits: Uint8Array, extname: string): Uint8Array {
  const [hdu] = readHdus(fits);
  if (!hdu) throw new Error('no HDU');
  const cards = hdu.header.cards.filter((c) => !['SIMPLE', 'EXTEND'].includes(c.keyword));
  const head = headerBytes([
    { keyword: 'XTENSION', value: 'IMAGE' },
    ...cards.slice(0, 2 + hdu.header.number('NAXIS')),
    { keyword: 'PCOUNT', value: 0 },
    { keyword: 'GCOUNT', value: 1 },
    { keyword: 'EXTNAME', value: extname },
    ...cards.slice(2 + hdu.header.number('NAXIS')),
  ]);
  const data = fits.subarray(hdu.dataStart, hdu.end);
  return concat(head, data);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

/** The fixture image, mirrored left to right: another field of the same size, with its own WCS. */
function mirrored(fits: Uint8Array): Uint8Array {
  const [hdu] = readHdus(fits);
  const { width, height, bitpix } = readImage(fits);
  const size = Math.abs(bitpix) / 8;
  const out = fits.slice();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (hdu as { dataStart: number }).dataStart + (y * width + x) * size;
      const to = (hdu as { dataStart: number }).dataStart + (y * width + (width - 1 - x)) * size;
      out.set(fits.subarray(from, from + size), to);
    }
  }
  return out;
}

let small: Uint8Array;
let multi: Uint8Array;

beforeAll(async () => {
  await buildCli();
  nova = await startTestServer();
  work = mkdtempSync(join(tmpdir(), 'astrometry-net-cli-hdu-'));
  small = gunzipSync(readFileSync(join(FIXTURES, 'small.fits.gz')));
  // HDU 0: no data; 1: the fixture; 2: a table; 3: the fixture mirrored.
  multi = concat(
    emptyPrimary([{ keyword: 'OBJECT', value: 'two chips' }]),
    imageExtension(small, 'CHIP1'),
    binTable([{ name: 'x', type: 'D', values: [1, 2] }]),
    imageExtension(mirrored(small), 'CHIP2'),
  );
  writeFileSync(join(work, 'multi.fits'), multi);
  copyFileSync(join(FIXTURES, 'small.png'), join(work, 'small.png'));
}, 120_000);

afterAll(async () => {
  await nova?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const solve = (...args: string[]) => runCli(['solve', ...args, '--api-url', nova.url, '--api-key', GOOD_KEY, '--json'], { cwd: work });

/** `wcs-xy2rd -w FILE [-e HDU] -x X -y Y`: RA and Dec as astrometry.net reads the file. */
function xy2rd(file: string, x: number, y: number, hdu?: number): [number, number] {
  const r = spawnSync('wcs-xy2rd', ['-w', file, ...(hdu === undefined ? [] : ['-e', String(hdu)]), '-x', String(x), '-y', String(y)], { encoding: 'utf8' });
  const m = /RA,Dec \(([-\d.e+]+), ([-\d.e+]+)\)/.exec(r.stdout);
  if (!m) throw new Error(`wcs-xy2rd said: ${r.stdout}${r.stderr}`);
  return [Number(m[1]), Number(m[2])];
}

describe('solve --hdu', () => {
  test('--hdu all solves each image HDU as its own upload, and the merged copy carries each HDU’s own WCS', async () => {
    const uploads = nova.uploads();
    const run = await solve('multi.fits', '--hdu', 'all', '--out', 'out');
    expect(run.code, run.stderr).toBe(0);
    expect(nova.uploads() - uploads).toBe(2);
    const doc = JSON.parse(run.stdout) as SolveJsonDocument;
    expect(doc.inputs.map((i) => [i.input, i.status])).toEqual([
      ['multi.fits[1]', 'success'],
      ['multi.fits[3]', 'success'],
    ]);
    const merged = join(work, 'out', 'multi.solved.fits');
    expect(doc.inputs.map((i) => i.files.solvedFits)).toEqual([merged, merged]);
    expect(run.stderr).toMatch(/merged .*multi\.solved\.fits: each solved HDU carries its own WCS/);

    const bytes = readFileSync(merged);
    const hdus = readHdus(bytes);
    const original = readHdus(multi);
    expect(hdus).toHaveLength(4);
    // The primary and the table are copied byte for byte, and every data unit too.
    expect(bytes.subarray(0, hdus[0]?.end)).toEqual(Buffer.from(multi.subarray(0, original[0]?.end)));
    expect(bytes.subarray(hdus[2]?.headerStart, hdus[2]?.end)).toEqual(Buffer.from(multi.subarray(original[2]?.headerStart, original[2]?.end)));
    for (const i of [1, 3]) {
      expect(bytes.subarray(hdus[i]?.dataStart, hdus[i]?.end)).toEqual(Buffer.from(multi.subarray(original[i]?.dataStart, original[i]?.end)));
      expect(hdus[i]?.header.get('EXTNAME')).toBe(i === 1 ? 'CHIP1' : 'CHIP2');
      expect(hdus[i]?.header.get('XTENSION')).toBe('IMAGE');
    }
    // Each HDU's WCS is its own solve's, as wcs-xy2rd reads it from that HDU.
    const [w1, w3] = [join(work, 'out', 'multi.hdu1.wcs.fits'), join(work, 'out', 'multi.hdu3.wcs.fits')];
    for (const [x, y] of [[1, 1], [100, 80]] as const) {
      expect(xy2rd(merged, x, y, 1)).toEqual(xy2rd(w1, x, y));
      expect(xy2rd(merged, x, y, 3)).toEqual(xy2rd(w3, x, y));
    }
    expect(xy2rd(w1, 1, 1)).not.toEqual(xy2rd(w3, 1, 1));
    expect(parseHeader(bytes, hdus[1]?.headerStart).header.get('CRVAL1')).toBe(parseHeader(readFileSync(w1)).header.get('CRVAL1'));
    expect((bytes.length % BLOCK) === 0).toBe(true);
  });

  test('with the real solver (--local): both HDUs solve to the true field, and the merged copy’s HDUs each map their own pixels (the mirrored HDU’s pixel (W, 1) is the first HDU’s (1, 1))', async () => {
    const run = await runCli(['solve', 'multi.fits', '--hdu', 'all', '--local', '--out', 'real', '--json'], { cwd: work, timeoutMs: 120_000 });
    expect(run.code, run.stderr).toBe(0);
    const doc = JSON.parse(run.stdout) as SolveJsonDocument;
    const truth = await truthOf('small');
    for (const input of doc.inputs) {
      const c = input.calibration as NonNullable<typeof input.calibration>;
      // The index solve-field finds first may differ from run to run (it searches them in
      // parallel): every solution is within 0.05° and 0.5 % of the truth.
      expect(Math.abs(c.dec - truth.dec)).toBeLessThan(0.05);
      expect(Math.abs(c.ra - truth.ra) * Math.cos((truth.dec * Math.PI) / 180)).toBeLessThan(0.05);
      expect(Math.abs(c.pixscale / truth.scale_arcsec - 1)).toBeLessThan(0.005);
      expect(input.quality?.matchedStars).toBeGreaterThanOrEqual(8);
    }
    expect(doc.inputs.map((i) => i.calibration?.parity).sort()).toEqual([-1, 1]);
    const merged = join(work, 'real', 'multi.solved.fits');
    for (const hdu of [1, 3]) {
      expect(xy2rd(merged, 1, 1, hdu)).toEqual(xy2rd(join(work, 'real', `multi.hdu${hdu}.wcs.fits`), 1, 1));
    }
    const width = readImage(small).width;
    const [ra1, dec1] = xy2rd(merged, 1, 1, 1);
    const [ra3, dec3] = xy2rd(merged, width, 1, 3);
    // The same corner of the sky through two solutions of two HDUs: within 3 pixels.
    const apart = Math.hypot((ra1 - ra3) * Math.cos((dec1 * Math.PI) / 180), dec1 - dec3) * 3600;
    expect(apart).toBeLessThan(3 * truth.scale_arcsec);
  });

  test('--hdu 3 solves that HDU only', async () => {
    const uploads = nova.uploads();
    const run = await solve('multi.fits', '--hdu', '3', '--out', 'out3');
    expect(run.code, run.stderr).toBe(0);
    expect(nova.uploads() - uploads).toBe(1);
    const doc = JSON.parse(run.stdout) as SolveJsonDocument;
    expect(doc.inputs.map((i) => i.input)).toEqual(['multi.fits[3]']);
  });

  test('a non-image HDU, or a file without HDUs, is refused before any request, naming the option, the value and the image HDUs', async () => {
    const before = nova.server.requests.length;
    const table = await solve('multi.fits', '--hdu', '2', '--out', 'bad');
    expect(table.code).toBe(2);
    expect(table.stderr).toMatch(/Invalid option hdu: 2\./);
    expect(table.stderr).toMatch(/the image HDUs of multi\.fits are 1, 3/);
    expect(table.stderr).toMatch(/2: BINTABLE/);
    const word = await solve('multi.fits', '--hdu', 'first', '--out', 'bad');
    expect(word.code).toBe(2);
    expect(word.stderr).toMatch(/Invalid option hdu: "?first"?/);
    const png = await solve('small.png', '--hdu', 'all', '--out', 'bad');
    expect(png.code).toBe(2);
    expect(png.stderr).toMatch(/small\.png is not one/);
    expect(nova.server.requests.length).toBe(before);
  });
});
