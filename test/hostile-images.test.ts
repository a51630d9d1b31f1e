/**
 * Hostile files given to local extraction: headers that lie, decompression bombs, truncated and
 * mislabelled files. Each must end in a typed ImageError, fast, within a memory budget, before
 * the pixels it claims are ever allocated. (vitest runs this file in a process of its own, so
 * its peak RSS is this file's.)
 */
import { createGzip, deflateSync, gzipSync, crc32 } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { extractSources, ImageError } from '../src/extract/index.js';
import { AstrometryNetError } from '../src/errors.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

/** A PNG whose header declares `width` × `height` (8-bit grey) and whose data inflates to `rows` rows of zeros. */
function png(width: number, height: number, rows = 0): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grey
  const idat = deflateSync(Buffer.alloc(Math.min(rows * (width + 1), 64 * 1024 * 1024)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/** A baseline JPEG whose frame header declares `width` × `height`, with nothing after it. */
function jpegHeader(width: number, height: number): Uint8Array {
  const sof = [0xff, 0xc0, 0x00, 0x0b, 0x08, height >> 8, height & 0xff, width >> 8, width & 0xff, 0x01, 0x01, 0x11, 0x00];
  return Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, ...Buffer.from('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0, ...sof, 0xff, 0xd9]);
}

/** A FITS primary header declaring a `width` × `height` image of `bitpix`, followed by `dataBytes` zero bytes. */
function fits(width: number, height: number, bitpix = 16, dataBytes = 0): Buffer {
  const cards = [`SIMPLE  = ${'T'.padStart(20)}`, `BITPIX  = ${String(bitpix).padStart(20)}`, `NAXIS   = ${'2'.padStart(20)}`, `NAXIS1  = ${String(width).padStart(20)}`, `NAXIS2  = ${String(height).padStart(20)}`, 'END'];
  const header = Buffer.from(cards.map((c) => c.padEnd(80)).join('').padEnd(2880), 'latin1');
  return Buffer.concat([header, Buffer.alloc(dataBytes)]);
}

/** `head` then `zeros` zero bytes, gzipped as a stream: the test itself never holds them. */
async function gzipped(head: Uint8Array, zeros: number): Promise<Buffer> {
  const gzip = createGzip({ level: 1 });
  const out: Buffer[] = [];
  gzip.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve) => gzip.on('end', resolve));
  gzip.write(head);
  const block = Buffer.alloc(1024 * 1024);
  for (let left = zeros; left > 0; left -= block.length) {
    if (!gzip.write(left >= block.length ? block : block.subarray(0, left))) await new Promise((r) => gzip.once('drain', r));
  }
  gzip.end();
  await done;
  return Buffer.concat(out);
}

async function refused(bytes: Uint8Array, code: ImageError['code'], options: { maxPixels?: number } = {}): Promise<ImageError> {
  const t0 = performance.now();
  let error: unknown;
  try {
    await extractSources(bytes, options);
  } catch (e) {
    error = e;
  }
  const seconds = (performance.now() - t0) / 1000;
  expect(error).toBeInstanceOf(ImageError);
  expect(error).toBeInstanceOf(AstrometryNetError);
  expect((error as ImageError).code).toBe(code);
  expect(seconds).toBeLessThan(5);
  return error as ImageError;
}

describe('a header that declares more pixels than the budget is refused before decoding', () => {
  test('a 20 000 × 20 000 PNG bomb (its data inflating to zeros)', async () => {
    const e = await refused(png(20_000, 20_000, 500), 'image_too_large');
    expect(e).toMatchObject({ format: 'png', width: 20_000, height: 20_000, limit: 250_000_000 });
    expect(e.message).toMatch(/20000 × 20000 pixels.*maxPixels/);
  });

  test('a 100 000 px PNG header, a 20 000 and a 65 535 px JPEG header, a 100 000 px FITS header', async () => {
    await refused(png(100_000, 100_000), 'image_too_large');
    expect(await refused(jpegHeader(20_000, 20_000), 'image_too_large')).toMatchObject({ format: 'jpeg', width: 20_000 });
    await refused(jpegHeader(65_535, 65_535), 'image_too_large');
    expect(await refused(fits(100_000, 100_000), 'image_too_large')).toMatchObject({ format: 'fits', height: 100_000 });
  });

  test('a gzipped FITS declaring 1.6 GB stops at its header, not at the end of its data', async () => {
    const bomb = await gzipped(fits(20_000, 20_000, -32), 1_600_000_000);
    expect(bomb.length).toBeLessThan(16 * 1024 * 1024);
    expect(await refused(bomb, 'image_too_large')).toMatchObject({ format: 'fits', width: 20_000 });
  });

  test('a FITS header longer than its first blocks (40 blocks of comments) is still checked before its data inflates', async () => {
    const comments = Array.from({ length: 40 * 36 }, (_, i) => `COMMENT ${String(i).padEnd(72)}`).join('');
    const head = fits(20_000, 20_000, -32);
    const long = Buffer.concat([head.subarray(0, 80 * 5), Buffer.from(comments, 'latin1'), head.subarray(80 * 5)]);
    const padded = Buffer.concat([long, Buffer.alloc((2880 - (long.length % 2880)) % 2880, 0x20)]);
    const t0 = performance.now();
    expect(await refused(await gzipped(padded, 400 * 1024 * 1024), 'image_too_large')).toMatchObject({ format: 'fits', width: 20_000 });
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  test('a gzipped FITS within the budget decodes as the plain one does', async () => {
    const plain = fits(300, 200, 16, 300 * 200 * 2);
    const gz = gzipSync(plain);
    const { decodeImage } = await import('../src/extract/index.js');
    const a = await decodeImage(plain);
    const b = await decodeImage(gz);
    expect([b.width, b.height, b.data.length]).toEqual([300, 200, 60_000]);
    expect(b.data).toEqual(a.data);
  });

  test("a PNG whose data inflates far past what its header's size needs is refused before fast-png inflates it", async () => {
    const e = await refused(png(100, 100, 50_000), 'invalid_image');
    expect(e.message).toMatch(/inflates past what its 100 × 100 pixels need/);
  });

  test('gzip that inflates past the budget, whatever it holds, is cut off as it inflates', async () => {
    // A FITS whose primary HDU holds no image (its data, if any, would be in extensions).
    const noImage = Buffer.from(['SIMPLE  =                    T', 'BITPIX  =                    8', 'NAXIS   =                    0', 'EXTEND  =                    T', 'END'].map((c) => c.padEnd(80)).join('').padEnd(2880), 'latin1');
    const zeros = await gzipped(noImage, 100 * 1024 * 1024);
    const e = await refused(zeros, 'image_too_large', { maxPixels: 1_000_000 });
    expect(e.message).toMatch(/inflates past/);
  });

  test('the caller can raise the budget: within it, the same image decodes', async () => {
    await refused(fits(1500, 1500, 8, 1500 * 1500), 'image_too_large', { maxPixels: 1_000_000 });
    await expect(extractSources(fits(1500, 1500, 8, 1500 * 1500), { maxPixels: 3_000_000 })).resolves.toMatchObject({ imageWidth: 1500 });
  });
});

describe('files that cannot be read are typed, never a RangeError, TypeError or bare Error', () => {
  test('a truncated PNG, a truncated FITS, a zip named .fits, a PNG shorter than its header, a JPEG with no frame', async () => {
    const small = readFileSync(join(FIXTURES, 'small.png'));
    await refused(small.subarray(0, Math.floor(small.length / 2)), 'invalid_image');
    await refused(fits(100, 100, 16, 5000), 'invalid_fits');
    const zip = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(200)]);
    expect((await refused(zip, 'invalid_image')).message).toMatch(/zip archive/);
    await refused(small.subarray(0, 20), 'invalid_image');
    await refused(Uint8Array.from([0xff, 0xd8, 0xff, 0xd9, 0, 0, 0, 0, 0, 0, 0, 0]), 'invalid_image');
    await refused(gzipSync(Buffer.from('not an image at all')), 'invalid_image');
    // Only FITS is read gzipped: anything else is refused at its first bytes, not inflated to the budget.
    const t0 = performance.now();
    expect((await refused(await gzipped(Buffer.from('PK\x03\x04 not fits'), 200 * 1024 * 1024), 'invalid_image')).message).toMatch(/holds no FITS/);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});

test('all of it within a memory budget: this process never held more than 300 MB', () => {
  const peakMb = process.resourceUsage().maxRSS / 1024;
  console.log(`hostile images: peak RSS ${peakMb.toFixed(0)} MB`);
  expect(peakMb).toBeLessThan(300);
});
