/**
 * extractSources against Debian's image2xy on the fixtures (the same files as shared/fixtures): image2xy's 100 brightest sources
 * found within 1 px; and every input form (path, bytes, Blob, gzip, JPEG, 16-bit FITS).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { beforeAll, describe, expect, test } from 'vitest';
import { extractSources } from '../src/extract/index.js';
import { decodeImage } from '../src/extract/index.js';
import { readBinTable, writeImage } from '../src/fits/index.js';
import { workDir } from './helpers/astrometry-tools.js';
import { FIXTURES } from './helpers/cli-run.js';

let dir: string;

beforeAll(async () => {
  dir = await workDir('anc-extract-');
});

function fixtureBytes(file: string): Uint8Array {
  const raw = new Uint8Array(readFileSync(file));
  return file.endsWith('.gz') ? new Uint8Array(gunzipSync(raw)) : raw;
}

/** image2xy's sources, brightest first; PNG pixels are written to FITS top row first, as solve-field does. */
async function image2xy(bytes: Uint8Array, name: string): Promise<{ x: Float64Array; y: Float64Array }> {
  const fitsIn = path.join(dir, `${name}.fits`);
  if (bytes[0] === 0x53) writeFileSync(fitsIn, bytes);
  else {
    const image = await decodeImage(bytes);
    writeFileSync(fitsIn, writeImage({ width: image.width, height: image.height, bitpix: -32, data: image.data }));
  }
  const out = path.join(dir, `${name}.xy.fits`);
  execFileSync('image2xy', ['-O', '-o', out, fitsIn], { stdio: 'ignore' });
  const table = readBinTable(new Uint8Array(readFileSync(out)))!;
  return { x: table.column('X'), y: table.column('Y') };
}

function matched(ref: { x: Float64Array; y: Float64Array }, ours: { x: number[]; y: number[] }, count: number): number {
  let found = 0;
  for (let i = 0; i < count; i++) {
    if (ours.x.some((x, j) => Math.hypot(x - ref.x[i]!, ours.y[j]! - ref.y[i]!) <= 1)) found++;
  }
  return found;
}

const FILES = [
  path.join(FIXTURES, 'orion.png'),
  path.join(FIXTURES, 'south.png'),
  path.join(FIXTURES, 'small.png'),
  path.join(FIXTURES, 'small.fits.gz'),
];

describe.each(FILES)('%s', (file) => {
  test("at least 95 % of image2xy's 100 brightest are found within 1 px", async () => {
    const bytes = fixtureBytes(file);
    const ref = await image2xy(bytes, path.basename(file));
    const ours = await extractSources(file);
    const n = Math.min(100, ref.x.length);
    expect(n).toBeGreaterThan(50);
    const found = matched(ref, ours, n);
    console.log(`${path.basename(file)}: ${found}/${n} of image2xy's brightest within 1 px; ${ours.x.length} sources vs image2xy's ${ref.x.length}`);
    expect(found / n).toBeGreaterThanOrEqual(0.95);
    expect(ours.flux).toEqual([...ours.flux].sort((a, b) => b - a));
  });
});

test('pure noise gives no source, as image2xy', async () => {
  const found = await extractSources(path.join(FIXTURES, 'noise.png'));
  expect(found.x).toEqual([]);
  expect([found.imageWidth, found.imageHeight]).toEqual([400, 300]);
});

test('a path, bytes, an ArrayBuffer and a Blob give the same sources; maxSources keeps the brightest', async () => {
  const file = path.join(FIXTURES, 'small.png');
  const bytes = new Uint8Array(readFileSync(file));
  const fromPath = await extractSources(file);
  expect(await extractSources(bytes.slice())).toEqual(fromPath);
  expect(await extractSources(bytes.slice().buffer)).toEqual(fromPath);
  expect(await extractSources(new Blob([bytes]))).toEqual(fromPath);
  const top = await extractSources(file, { maxSources: 10 });
  expect(top.x).toEqual(fromPath.x.slice(0, 10));
  await expect(extractSources(new Uint8Array([1, 2, 3]))).rejects.toThrow(/FITS, PNG or JPEG/);
});

test('a JPEG and a 16-bit FITS (BZERO 32768) of the same sky give the same stars', async () => {
  const png = await decodeImage(new Uint8Array(readFileSync(path.join(FIXTURES, 'small.png'))));
  const ref = await image2xy(new Uint8Array(readFileSync(path.join(FIXTURES, 'small.png'))), 'small-ref');
  const rgba = new Uint8Array(png.width * png.height * 4);
  png.data.forEach((v, i) => rgba.set([v, v, v, 255], i * 4));
  const jpg = new Uint8Array(jpeg.encode({ data: rgba, width: png.width, height: png.height }, 95).data);
  const fromJpeg = await extractSources(jpg);
  expect([fromJpeg.imageWidth, fromJpeg.imageHeight]).toEqual([640, 480]);
  expect(matched(ref, fromJpeg, 100)).toBeGreaterThanOrEqual(95);
  const fits16 = writeImage({ width: png.width, height: png.height, bitpix: 16, bzero: 32768, data: Array.from(png.data, (v) => v * 200) });
  const fromFits = await extractSources(fits16);
  expect(matched(ref, fromFits, 100)).toBeGreaterThanOrEqual(95);
});

test('astrometry-net-client/extract, imported alone in Node, reads a path (its Node entry installs the Node platform)', async () => {
  const { buildCli, ROOT, FIXTURES } = await import('./helpers/cli-run.js');
  await buildCli();
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };
  const entry = path.join(ROOT, pkg.exports['./extract']!.default!);
  const script = `const { extractSources } = await import(${JSON.stringify(entry)}); const s = await extractSources(${JSON.stringify(path.join(FIXTURES, 'small.png'))}); console.log(s.imageWidth, s.x.length > 50);`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(out.trim()).toMatch(/^\d+ true$/);
});
