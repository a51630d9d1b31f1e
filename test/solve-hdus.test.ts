/**
 * The library's `hdu` option and `solveHdus()` against the in-repo server on 127.0.0.1
 * (simulated solver): each image HDU of a multi-extension FITS file is uploaded as a FITS file
 * of its own, `mergeWcsIntoHdus` puts each solution back in its HDU, and a bad `hdu` is refused
 * before any request, naming the option, the value and the image HDUs there are.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ImageError } from '../src/extract/image-error.js';
import { Client } from '../src/client/client.js';
import { ValidationError } from '../src/errors.js';
import { binTable, emptyPrimary, extractHdu, headerBytes, mergeWcsIntoHdus, readHdus, writeImage } from '../src/fits/index.js';
import { Wcs } from '../src/wcs/index.js';
import { startServer, type RunningServer } from 'astrometry-net-server';

let server: RunningServer;
let client: Client;

/** An IMAGE extension of `width` × `height` 16-bit pixels, whose values depend on `seed`. */
function imageExtension(width: number, height: number, seed: number): Uint8Array {
  const data = Array.from({ length: width * height }, (_, i) => ((i * seed) % 997) - 300);
  const single = writeImage({ width, height, bitpix: 16, data });
  const [hdu] = readHdus(single);
  const head = headerBytes([
    { keyword: 'XTENSION', value: 'IMAGE' },
    { keyword: 'BITPIX', value: 16 },
    { keyword: 'NAXIS', value: 2 },
    { keyword: 'NAXIS1', value: width },
    { keyword: 'NAXIS2', value: height },
    { keyword: 'PCOUNT', value: 0 },
    { keyword: 'GCOUNT', value: 1 },
  ]);
  return concat(head, single.subarray(hdu?.dataStart));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

// HDU 0: no data; 1: a 60 × 40 image; 2: a table; 3: a 50 × 30 image.
const MULTI = concat(emptyPrimary(), imageExtension(60, 40, 7), binTable([{ name: 'x', type: 'D', values: [1] }]), imageExtension(50, 30, 13));

beforeAll(async () => {
  server = await startServer({ port: 0, solver: 'simulated', simulated: { ingestMs: 20, queueMs: 20, solveMs: 30 } });
  client = new Client({ apiUrl: server.url, apiKey: server.apiKeys[0], polling: { minIntervalMs: 10, maxIntervalMs: 60 } });
});

afterAll(() => server.close());

const uploads = () => server.requests.filter((r) => r.endpoint === 'upload').length;

describe('hdu', () => {
  test('solveHdus solves each image HDU as its own upload; the merged copy carries each one’s own WCS', async () => {
    const before = uploads();
    const solved = await client.solveHdus({ bytes: MULTI, filename: 'multi.fits' });
    expect(uploads() - before).toBe(2);
    expect(solved.map((s) => [s.hdu, s.error])).toEqual([
      [1, null],
      [3, null],
    ]);
    const wcs = new Map(await Promise.all(solved.map(async (s) => [s.hdu, (await s.result!.wcsFile()).bytes] as const)));
    const merged = mergeWcsIntoHdus(MULTI, wcs);
    for (const s of solved) {
      const own = await s.result!.wcs();
      const hdu = readHdus(merged)[s.hdu]!;
      const inMerged = Wcs.fromFits(concat(headerBytes([{ keyword: 'SIMPLE', value: true }, ...hdu.header.cards.filter((c) => c.keyword !== 'XTENSION')])));
      expect([own.imageWidth, own.imageHeight]).toEqual(s.hdu === 1 ? [60, 40] : [50, 30]);
      expect(inMerged.pixelToSky(5, 7)).toEqual(own.pixelToSky(5, 7));
    }
  });

  test('solve({ hdu: 3 }) solves that HDU', async () => {
    const before = uploads();
    const result = await client.solve({ bytes: MULTI, filename: 'multi.fits' }, { hdu: 3 });
    expect(uploads() - before).toBe(1);
    expect([(await result.wcs()).imageWidth, (await result.wcs()).imageHeight]).toEqual([50, 30]);
  });

  test("a cut-out carries the primary's observation cards it lacks (not its structure or WCS): solve({ hdu }) is hinted by them", async () => {
    const primary = headerBytes([
      { keyword: 'SIMPLE', value: true },
      { keyword: 'BITPIX', value: 8 },
      { keyword: 'NAXIS', value: 0 },
      { keyword: 'EXTEND', value: true },
      { keyword: 'BZERO', value: 32768 },
      { keyword: 'CRVAL1', value: 1 },
      { keyword: 'OBJCTRA', value: '05 35 17.30' },
      { keyword: 'OBJCTDEC', value: '-05 23 28.0' },
      { keyword: 'FOCALLEN', value: 400 },
      { keyword: 'XPIXSZ', value: 7.52 },
      { keyword: 'DATE-OBS', value: '2026-01-01T00:00:00' },
    ]);
    const file = concat(primary, imageExtension(60, 40, 7));
    const cut = readHdus(extractHdu(file, 1));
    expect(cut).toHaveLength(1);
    const h = cut[0]!.header;
    expect([h.get('OBJCTRA'), h.get('FOCALLEN'), h.get('DATE-OBS')]).toEqual(['05 35 17.30', 400, '2026-01-01T00:00:00']);
    // The extension's own structure stays; the primary's scaling and WCS are not the extension's.
    expect([h.get('BITPIX'), h.get('NAXIS1'), h.get('BZERO'), h.get('CRVAL1'), h.get('EXTEND')]).toEqual([16, 60, undefined, undefined, undefined]);
    // INHERIT = F: the extension wants none of them.
    const own = readHdus(file)[1]!;
    const refusing = concat(primary, headerBytes([...own.header.cards, { keyword: 'INHERIT', value: false }]), file.subarray(own.dataStart));
    expect(readHdus(extractHdu(refusing, 1))[0]!.header.get('OBJCTRA')).toBeUndefined();

    const result = await client.solve({ bytes: file, filename: 'mef.fits' }, { hdu: 1 });
    expect(result.hints?.position).toMatchObject({ from: 'OBJCTRA/OBJCTDEC' });
    expect(result.hints?.scale).toMatchObject({ from: 'FOCALLEN/XPIXSZ' });
  });

  test('a .fits.gz is inflated within a budget: a small bomb is ImageError image_too_large; every HDU is kept', async () => {
    const { hduParts } = await import('../src/client/hdu-input.js');
    // 80 KB of gzip that inflates to 80 MB: past the budget of a 1000-pixel image (8 kB + 64 MiB).
    const bomb = new Uint8Array(gzipSync(concat(emptyPrimary(), new Uint8Array(80 * 2 ** 20))));
    expect(bomb.length).toBeLessThan(200_000);
    const refused = await hduParts({ bytes: bomb, filename: 'bomb.fits.gz' }, 'all', 1000).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ImageError);
    expect(refused).toMatchObject({ code: 'image_too_large' });
    // An image in the primary and one in an extension: both are still there once inflated.
    const both = new Uint8Array(gzipSync(concat(writeImage({ width: 20, height: 10, bitpix: 8, data: new Uint8Array(200) }), imageExtension(60, 40, 7))));
    expect((await hduParts({ bytes: both, filename: 'both.fits.gz' }, 'all')).map((p) => p.hdu)).toEqual([0, 1]);
  });

  test('solveHdus keeps `concurrency` HDUs in flight (2 by default), its outcomes in the file’s order; 1 solves one after another', async () => {
    // Where each upload and calibration read fell among the server's requests, from `from` on.
    const order = (from: number) => server.requests.slice(from).flatMap((r) => (r.endpoint === 'upload' || r.endpoint === 'calibration' ? [r.endpoint] : []));
    let from = server.requests.length;
    const together = await client.solveHdus({ bytes: MULTI, filename: 'multi.fits' });
    expect(together.map((s) => [s.hdu, s.error])).toEqual([
      [1, null],
      [3, null],
    ]);
    expect(order(from).slice(0, 2)).toEqual(['upload', 'upload']);
    from = server.requests.length;
    await client.solveHdus({ bytes: MULTI, filename: 'multi.fits' }, { concurrency: 1 });
    expect(order(from)).toEqual(['upload', 'calibration', 'upload', 'calibration']);
    for (const bad of [0, 65, 1.5, '2']) {
      await expect(client.solveHdus({ bytes: MULTI, filename: 'multi.fits' }, { concurrency: bad as number })).rejects.toMatchObject({ code: 'validation', option: 'concurrency' });
    }
  });

  test('a bad hdu is refused before any request: naming the option, the value and the image HDUs', async () => {
    const before = server.requests.length;
    const refused = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as ValidationError);
    const table = await refused(client.solve({ bytes: MULTI, filename: 'multi.fits' }, { hdu: 2 }));
    expect(table).toBeInstanceOf(ValidationError);
    expect(table?.option).toBe('hdu');
    expect(table?.message).toMatch(/Invalid option hdu: 2\..*the image HDUs of multi\.fits are 1, 3.*2: BINTABLE/);
    expect((await refused(client.solveHdus({ bytes: MULTI }, { hdu: -1 })))?.option).toBe('hdu');
    expect((await refused(client.solve({ bytes: MULTI }, { hdu: 'all' as never })))?.message).toMatch(/solveHdus/);
    expect((await refused(client.solveHdus({ bytes: new Uint8Array([1, 2, 3]), filename: 'x.png' })))?.message).toMatch(/x\.png is not one/);
    expect((await refused(client.solveHdus('https://example.org/x.fits')))?.option).toBe('hdu');
    expect(server.requests.length).toBe(before);
  });
});
