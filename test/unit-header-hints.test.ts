/**
 * Reading hints from FITS headers as capture programs write them, and how they become upload
 * options: which card wins, what the caller's options keep out, and what a blind retry drops.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { headerBytes, writeImage, type CardInput } from '../src/fits/index.js';
import { readHeaderHints } from '../src/client/header-hints.js';
import { blindRetry } from '../src/client/hints.js';
import { applyHints, applyHintsToWire, hintsFromCalibration, searchRadius } from '../src/client/apply-hints.js';
import { encodeUploadOptions } from '../src/protocol/upload-options.js';

const fits = (cards: CardInput[], width = 100, height = 80) => writeImage({ width, height, bitpix: 8, data: new Uint8Array(width * height), cards });

describe('readHeaderHints', () => {
  test('OBJCTRA/OBJCTDEC in sexagesimal, FOCALLEN with the binned XPIXSZ', async () => {
    const found = await readHeaderHints({ bytes: fits([
      { keyword: 'OBJCTRA', value: '05 35 17.30' },
      { keyword: 'OBJCTDEC', value: '-05 23 28.0' },
      { keyword: 'FOCALLEN', value: 400 },
      { keyword: 'XPIXSZ', value: 7.52 },
      { keyword: 'XBINNING', value: 2 },
    ]) });
    expect(found.position).toMatchObject({ from: 'OBJCTRA/OBJCTDEC' });
    expect(found.position!.ra).toBeCloseTo(83.82208, 4);
    expect(found.position!.dec).toBeCloseTo(-5.39111, 4);
    // 206.265 × 7.52 µm / 400 mm: XPIXSZ already counts the binning.
    expect(found.scale!.arcsecPerPixel).toBeCloseTo(3.8778, 3);
    expect(found.scale!.from).toBe('FOCALLEN/XPIXSZ');
    expect(found.fieldRadius!).toBeCloseTo((Math.hypot(100, 80) / 2) * (3.8778 / 3600), 5);
  });

  test('OBJCTRA is hours however it is written: sexagesimal, a number, or a decimal string', async () => {
    const ra = async (value: string | number) =>
      (await readHeaderHints({ bytes: fits([{ keyword: 'OBJCTRA', value }, { keyword: 'OBJCTDEC', value: '+10 00 00' }]) })).position?.ra;
    expect(await ra('05 34 48')).toBeCloseTo(83.7, 6);
    expect(await ra(5.58)).toBeCloseTo(83.7, 6);
    expect(await ra('5.58')).toBeCloseTo(83.7, 6);
    expect(await ra(' 5.58 ')).toBeCloseTo(83.7, 6);
    // Beyond 24 h is no hint, as a number or as text.
    expect(await ra('25.5')).toBeUndefined();
    expect(await ra(25.5)).toBeUndefined();
  });

  test("INDI's unbinned PIXSIZE1 is multiplied by XBINNING; RA/DEC in degrees; PIXSCALE wins over the optics", async () => {
    const indi = await readHeaderHints({ bytes: fits([{ keyword: 'RA', value: 10.5 }, { keyword: 'DEC', value: 41.2 }, { keyword: 'FOCALLEN', value: 400 }, { keyword: 'PIXSIZE1', value: 3.76 }, { keyword: 'XBINNING', value: 2 }]) });
    expect(indi.position).toEqual({ ra: 10.5, dec: 41.2, from: 'RA/DEC' });
    expect(indi.scale!.arcsecPerPixel).toBeCloseTo(3.8778, 3);
    const both = await readHeaderHints({ bytes: fits([{ keyword: 'PIXSCALE', value: 1.25 }, { keyword: 'FOCALLEN', value: 400 }, { keyword: 'XPIXSZ', value: 7.52 }]) });
    expect(both.scale).toEqual({ arcsecPerPixel: 1.25, from: 'PIXSCALE' });
    expect((await readHeaderHints({ bytes: fits([{ keyword: 'SECPIX', value: 2.5 }]) })).scale).toEqual({ arcsecPerPixel: 2.5, from: 'SECPIX' });
  });

  test("an existing WCS gives the image centre and its scale, before the mount's cards", async () => {
    const found = await readHeaderHints({ bytes: fits([
      { keyword: 'CTYPE1', value: 'RA---TAN' },
      { keyword: 'CTYPE2', value: 'DEC--TAN' },
      { keyword: 'CRVAL1', value: 200 },
      { keyword: 'CRVAL2', value: 30 },
      { keyword: 'CRPIX1', value: 50.5 },
      { keyword: 'CRPIX2', value: 40.5 },
      { keyword: 'CD1_1', value: -0.001 },
      { keyword: 'CD1_2', value: 0 },
      { keyword: 'CD2_1', value: 0 },
      { keyword: 'CD2_2', value: 0.001 },
      { keyword: 'OBJCTRA', value: '01 00 00' },
      { keyword: 'OBJCTDEC', value: '+10 00 00' },
    ]) });
    expect(found.position!.from).toBe('WCS (CRVAL)');
    expect(found.position!.ra).toBeCloseTo(200, 6);
    expect(found.position!.dec).toBeCloseTo(30, 6);
    expect(found.scale!.arcsecPerPixel).toBeCloseTo(3.6, 6);
  });

  test('a .fits.gz is read from its first blocks; a PNG, a URL, a source list or nonsense give nothing', async () => {
    const gz = gzipSync(fits([{ keyword: 'RA', value: 1 }, { keyword: 'DEC', value: 2 }], 2000, 2000));
    expect((await readHeaderHints({ bytes: gz })).position).toEqual({ ra: 1, dec: 2, from: 'RA/DEC' });
    expect(await readHeaderHints({ bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]) })).toEqual({});
    expect(await readHeaderHints('https://example.org/a.fits')).toEqual({});
    expect(await readHeaderHints({ sourceList: { x: [1], y: [1] } })).toEqual({});
    expect(await readHeaderHints({ bytes: new TextEncoder().encode('SIMPLE  = T but no END card') })).toEqual({});
    expect(await readHeaderHints('/no/such/file.fits')).toEqual({});
    // Unreadable values are no hint: a position needs both coordinates.
    expect((await readHeaderHints({ bytes: fits([{ keyword: 'OBJCTRA', value: '25 00 00' }, { keyword: 'OBJCTDEC', value: '+10 00 00' }]) })).position).toBeUndefined();
  });

  test('a header longer than the first read is read further, up to the bound', async () => {
    const many = Array.from({ length: 400 }, (_, i) => ({ keyword: 'HISTORY', comment: `line ${i}` }));
    const found = await readHeaderHints({ bytes: fits([...many, { keyword: 'RA', value: 3 }, { keyword: 'DEC', value: 4 }]) });
    expect(found.position).toEqual({ ra: 3, dec: 4, from: 'RA/DEC' });
  });

  test("an image extension whose header runs past the first read is read further (the primary holds no image)", async () => {
    const primary = headerBytes([{ keyword: 'SIMPLE', value: true }, { keyword: 'BITPIX', value: 8 }, { keyword: 'NAXIS', value: 0 }, { keyword: 'EXTEND', value: true }]);
    const many = Array.from({ length: 400 }, (_, i) => ({ keyword: 'HISTORY', comment: `line ${i}` }));
    const ext = headerBytes([
      { keyword: 'XTENSION', value: 'IMAGE' },
      { keyword: 'BITPIX', value: 8 },
      { keyword: 'NAXIS', value: 2 },
      { keyword: 'NAXIS1', value: 100 },
      { keyword: 'NAXIS2', value: 80 },
      { keyword: 'PCOUNT', value: 0 },
      { keyword: 'GCOUNT', value: 1 },
      ...many,
      { keyword: 'RA', value: 5 },
      { keyword: 'DEC', value: 6 },
    ]);
    // The extension's header ends after the first 8 blocks.
    expect(primary.length + ext.length).toBeGreaterThan(8 * 2880);
    const bytes = new Uint8Array(primary.length + ext.length + 2880);
    bytes.set(primary);
    bytes.set(ext, primary.length);
    expect((await readHeaderHints({ bytes })).position).toEqual({ ra: 5, dec: 6, from: 'RA/DEC' });
    // A primary with no image and no extension still gives its own cards.
    const alone = headerBytes([{ keyword: 'SIMPLE', value: true }, { keyword: 'BITPIX', value: 8 }, { keyword: 'NAXIS', value: 0 }, { keyword: 'RA', value: 7 }, { keyword: 'DEC', value: 8 }]);
    expect((await readHeaderHints({ bytes: alone })).position).toEqual({ ra: 7, dec: 8, from: 'RA/DEC' });
  });
});

describe('applyHints', () => {
  const found = { position: { ra: 10, dec: 20, from: 'RA/DEC' }, scale: { arcsecPerPixel: 2, from: 'PIXSCALE' }, fieldRadius: 0.5 };

  test('a position with a radius of the field plus a margin, and a ±10 % arcsec/px range', () => {
    const { options, hints } = applyHints({}, found, false);
    expect(options).toEqual({ centerRa: 10, centerDec: 20, radius: 1.5, scaleUnits: 'arcsecperpix', scaleLower: 1.8, scaleUpper: 2.2 });
    expect(hints).toEqual({ position: { ra: 10, dec: 20, radius: 1.5, from: 'RA/DEC' }, scale: { lower: 1.8, upper: 2.2, from: 'PIXSCALE' }, strict: false, retryOf: null });
    expect(searchRadius(3)).toBe(6);
    expect(searchRadius(undefined)).toBe(5);
  });

  test("the caller's options win: any position option keeps the position out, any scale option the scale", () => {
    expect(applyHints({ centerRa: 1, centerDec: 2, radius: 3 }, found, false).options).toEqual({ centerRa: 1, centerDec: 2, radius: 3, scaleUnits: 'arcsecperpix', scaleLower: 1.8, scaleUpper: 2.2 });
    expect(applyHints({ scaleEstimate: 5, scaleError: 10 }, found, false).hints?.scale).toBeNull();
    expect(applyHints({ centerRa: 1, centerDec: 2, radius: 3, scaleUnits: 'degwidth' }, found, false)).toEqual({ options: { centerRa: 1, centerDec: 2, radius: 3, scaleUnits: 'degwidth' }, hints: null });
  });

  test('a blind retry drops what the hints set and keeps what the caller set; strict and retried hints make none', () => {
    const { options, hints } = applyHints({ tweakOrder: 3 }, found, false);
    const wire = encodeUploadOptions(options);
    const retry = blindRetry(wire, hints, { subid: 1, jobId: 2 })!;
    expect(retry.options).toEqual(encodeUploadOptions({ tweakOrder: 3 }));
    expect(retry.hints.retryOf).toEqual({ subid: 1, jobId: 2 });
    expect(blindRetry(retry.options, retry.hints, { subid: 3, jobId: 4 })).toBeNull();
    expect(blindRetry(wire, applyHints({}, found, true).hints, { subid: 1, jobId: 2 })).toBeNull();
    expect(blindRetry(wire, null, { subid: 1, jobId: 2 })).toBeNull();
  });

  test('a sequence replaces the hinted position and scale by the previous solution, never the caller\'s', () => {
    const first = applyHints({}, found, false);
    const previous = { ra: 0, dec: 21, radius: 0.4, pixscale: 2.1, orientation: 0, parity: 1 as const };
    const next = applyHintsToWire(encodeUploadOptions(first.options), first.hints, hintsFromCalibration(previous), false);
    // RA 0 is sent as nova keeps it (a zero would be dropped).
    expect(next.options).toMatchObject({ center_ra: 1e-9, center_dec: 21, radius: 1.4, scale_lower: 1.89, scale_upper: 2.31, scale_units: 'arcsecperpix' });
    expect(next.hints?.position?.from).toBe('previous frame');
    const own = applyHintsToWire(encodeUploadOptions({ centerRa: 5, centerDec: 6, radius: 2 }), null, hintsFromCalibration(previous), false);
    expect(own.options).toMatchObject({ center_ra: 5, center_dec: 6, radius: 2, scale_lower: 1.89 });
    expect(own.hints?.position).toBeNull();
  });
});
