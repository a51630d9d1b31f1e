import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import {
  FitsError,
  formatCard,
  headerBytes,
  parseHeader,
  readBinTable,
  readHdus,
  readImage,
  readXyColumns,
  tableFile,
  writeImage,
  type Bitpix,
} from '../src/fits/index.js';
import { card, fitsFile, int16Image } from './helpers/cli-fits.js';

const text = (cards: string[]): Uint8Array => fitsFile(cards);

describe('headers', () => {
  test('values, comments, quotes, D exponents, undefined values and commentary cards', () => {
    const { header, dataStart } = parseHeader(
      text([
        card('SIMPLE', true),
        card('BITPIX', -32, 'float'),
        "OBJECT  = 'M42 ''Orion'''  / the target".padEnd(80),
        'EXPTIME =             1.5D+01 / seconds'.padEnd(80),
        'EMPTY   =                      / nothing'.padEnd(80),
        'COMMENT   a remark'.padEnd(80),
        card('NAXIS', 0),
      ]),
    );
    expect(dataStart).toBe(2880);
    expect(header.get('bitpix')).toBe(-32);
    expect(header.get('OBJECT')).toBe("M42 'Orion'");
    expect(header.cards[2]?.comment).toBe('the target');
    expect(header.number('EXPTIME')).toBe(15);
    expect(header.get('EMPTY')).toBeNull();
    expect(header.number('EMPTY', 3)).toBe(3);
    expect(header.cards.find((c) => c.keyword === 'COMMENT')).toMatchObject({ comment: '  a remark' });
    expect(() => header.number('NOPE')).toThrow(FitsError);
  });

  test('HIERARCH keywords and CONTINUE strings are read', () => {
    const { header } = parseHeader(
      text([
        card('SIMPLE', true),
        'HIERARCH ESO DET CHIP TEMP = -120.5 / kelvin'.padEnd(80),
        "LONGSTR = 'This keyword value is continued over &'  / first".padEnd(80),
        "CONTINUE  'two cards&'".padEnd(80),
        "CONTINUE  '.' / last".padEnd(80),
        card('NAXIS', 0),
      ]),
    );
    expect(header.get('ESO DET CHIP TEMP')).toBe(-120.5);
    expect(header.get('LONGSTR')).toBe('This keyword value is continued over two cards.');
    expect(header.cards.find((c) => c.keyword === 'LONGSTR')?.images).toHaveLength(3);
    expect(header.get('NAXIS')).toBe(0);
  });

  test('writing: long strings continue, long keywords use HIERARCH, and both read back', () => {
    const long = "a path with a quote ' in it, ".repeat(8);
    const cards = [
      { keyword: 'SIMPLE', value: true },
      { keyword: 'NAXIS', value: 0 },
      { keyword: 'FILENAME', value: long, comment: 'where it came from' },
      { keyword: 'ESO TEL AIRM START', value: 1.234 },
      { keyword: 'CRVAL1', value: 83.82208333333333 },
      { keyword: 'IMAGEW', value: 800, format: 'real' as const },
    ];
    expect(formatCard(cards[2]!).length).toBeGreaterThan(3);
    expect(formatCard(cards[3]!)[0]).toMatch(/^HIERARCH ESO TEL AIRM START = 1.234 +$/);
    expect(formatCard(cards[5]!)[0]).toBe(`IMAGEW  = ${'800.0'.padStart(20)}`.padEnd(80));
    const { header } = parseHeader(headerBytes(cards));
    expect(header.get('FILENAME')).toBe(long.trimEnd());
    expect(header.get('ESO TEL AIRM START')).toBe(1.234);
    expect(header.get('CRVAL1')).toBe(83.82208333333333);
    expect(header.get('IMAGEW')).toBe(800);
  });

  test('a header without END is refused', () => {
    const bytes = new TextEncoder().encode(card('SIMPLE', true).repeat(36));
    expect(() => parseHeader(bytes)).toThrow(/no END/);
    expect(() => readHdus(new TextEncoder().encode('not fits'.padEnd(2880)))).toThrow(FitsError);
  });
});

describe('images', () => {
  const values = [0, 1, 17, 100, 200, 255];
  test.each<[Bitpix, number, number]>([
    [8, 1, 0],
    [16, 1, 32768],
    [16, 0.5, -10],
    [32, 1, 0],
    [64, 1, 0],
    [-32, 1, 0],
    [-64, 2, 5],
  ])('BITPIX %d with BSCALE %d, BZERO %d round-trips', (bitpix, bscale, bzero) => {
    const data = [...values, ...values.map((v) => v * 100), ...values.map((v) => v * 3.5)].map((v) => (bitpix > 0 ? Math.round((v - bzero) / bscale) * bscale + bzero : v));
    const physical = bitpix === 8 ? data.map((v) => Math.min(255 * bscale + bzero, v)) : bitpix === 16 && bzero === -10 ? data.map((v) => Math.min(v, 32767 * bscale + bzero)) : data;
    const file = writeImage({ width: 6, height: 3, bitpix, bscale, bzero, data: physical, cards: [{ keyword: 'OBJECT', value: 'test' }] });
    expect(file.length % 2880).toBe(0);
    const image = readImage(file);
    expect(image).toMatchObject({ width: 6, height: 3, bitpix });
    expect(image.header.get('OBJECT')).toBe('test');
    expect(Array.from(image.data)).toEqual(physical.map((v) => (bitpix === -32 ? Math.fround(v) : v)));
  });

  test('BLANK integers read as NaN; the image is found in the first IMAGE extension when the primary is empty', () => {
    const primary = fitsFile([card('SIMPLE', true), card('BITPIX', 8), card('NAXIS', 0), card('EXTEND', true)]);
    const ext = fitsFile(
      [card('XTENSION', 'IMAGE'), card('BITPIX', 16), card('NAXIS', 2), card('NAXIS1', 4), card('NAXIS2', 2), card('PCOUNT', 0), card('GCOUNT', 1), card('BLANK', -1000)],
      int16Image(4, 2),
    );
    const file = new Uint8Array(primary.length + ext.length);
    file.set(primary);
    file.set(ext, primary.length);
    const image = readImage(file);
    expect([image.width, image.height]).toEqual([4, 2]);
    // int16Image: ((x * 37 + y * 101) % 3000) - 1000, so (0, 0) is BLANK.
    expect(image.data[0]).toBeNaN();
    expect(image.data[1]).toBe(37 - 1000);
    expect(image.data[4]).toBe(101 - 1000);
  });

  test('the fixture small.fits (float32, 640 x 480) reads as the same sky as small.png shows', () => {
    const image = readImage(new Uint8Array(gunzipSync(readFileSync('test/fixtures/small.fits.gz'))));
    expect([image.width, image.height, image.bitpix]).toEqual([640, 480, -32]);
    let max = -Infinity;
    let min = Infinity;
    for (const v of image.data) {
      max = Math.max(max, v);
      min = Math.min(min, v);
    }
    expect(max).toBeGreaterThan(min);
  });

  test('a truncated image is refused', () => {
    const file = writeImage({ width: 100, height: 100, bitpix: 16, data: new Array(10000).fill(1) });
    expect(() => readImage(file.subarray(0, 2880 * 3))).toThrow(/truncated/);
  });
});

describe('binary tables', () => {
  test('columns of every numeric type read back; x/y found in any case; trailing bytes ignored', () => {
    const file = tableFile(
      [
        { name: 'X', type: 'D', values: [1.25, 2.5] },
        { name: 'Y', type: 'E', values: [3.5, 4.75] },
        { name: 'FLUX', type: 'J', values: [-7, 70000] },
        { name: 'ID', type: 'K', values: [1, 2] },
        { name: 'S', type: 'I', values: [-2, 3] },
        { name: 'B', type: 'B', values: [250, 3] },
      ],
      [{ keyword: 'IMAGEW', value: 640 }],
    );
    const withJunk = new Uint8Array(file.length + 100);
    withJunk.set(file);
    const table = readBinTable(withJunk);
    expect(table?.rows).toBe(2);
    expect(table?.header.get('IMAGEW')).toBe(640);
    expect(table?.columnNames).toEqual(['X', 'Y', 'FLUX', 'ID', 'S', 'B']);
    expect(Array.from(table!.column('flux'))).toEqual([-7, 70000]);
    expect(Array.from(table!.column('id'))).toEqual([1, 2]);
    expect(Array.from(table!.column('s'))).toEqual([-2, 3]);
    expect(Array.from(table!.column('b'))).toEqual([250, 3]);
    expect(readXyColumns(withJunk)).toEqual({ x: [1.25, 2.5], y: [3.5, 4.75] });
    expect(() => table!.column('nope')).toThrow(FitsError);
  });

  test('TSCAL and TZERO apply', () => {
    const file = fitsFile([card('SIMPLE', true), card('BITPIX', 8), card('NAXIS', 0)]);
    const rows = new Uint8Array([0x00, 0x01, 0x80, 0x00]);
    const ext = fitsFile(
      [card('XTENSION', 'BINTABLE'), card('BITPIX', 8), card('NAXIS', 2), card('NAXIS1', 2), card('NAXIS2', 2), card('PCOUNT', 0), card('GCOUNT', 1), card('TFIELDS', 1), card('TTYPE1', 'V'), card('TFORM1', '1I'), card('TSCAL1', 2), card('TZERO1', 32768)],
      rows,
    );
    const both = new Uint8Array(file.length + ext.length);
    both.set(file);
    both.set(ext, file.length);
    expect(Array.from(readBinTable(both)!.column('V'))).toEqual([32770, -32768]);
  });
});
