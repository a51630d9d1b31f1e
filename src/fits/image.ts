/**
 * FITS images: BITPIX 8, 16, 32, 64, -32, -64, scaled to physical values by BSCALE and BZERO.
 * Rows are stored bottom-up in FITS' own sense: element (i, j) of the array is pixel
 * (x = i + 1, y = j + 1) in the FITS 1-based convention; no flip is made here.
 */
import { FitsError } from './fits-error.js';
import { BLOCK, headerBytes, type CardInput, type FitsHeader } from './header.js';
import { readHdus, type FitsHdu } from './hdu.js';

export type Bitpix = 8 | 16 | 32 | 64 | -32 | -64;

export interface FitsImage {
  width: number;
  height: number;
  bitpix: Bitpix;
  /** Physical values (stored * BSCALE + BZERO), row after row; BLANK pixels are NaN. */
  data: Float32Array | Float64Array;
  header: FitsHeader;
}

/** The first HDU holding an image of at least two axes, or undefined. */
export function findImageHdu(hdus: readonly FitsHdu[]): FitsHdu | undefined {
  return hdus.find((h) => {
    const x = h.header.get('XTENSION');
    return (x === undefined || x === 'IMAGE') && h.header.number('NAXIS', 0) >= 2 && h.header.number('NAXIS1', 0) > 0 && h.header.number('NAXIS2', 0) > 0;
  });
}

/**
 * The first image of a FITS file (the primary HDU, or the first IMAGE extension when the primary
 * is empty); of a cube, the first plane. Values are Float32 for BITPIX 8, 16 and -32, else Float64.
 */
export function readImage(bytes: Uint8Array): FitsImage {
  const hdu = findImageHdu(readHdus(bytes));
  if (!hdu) throw new FitsError('The FITS file holds no image.');
  return readImageHdu(bytes, hdu);
}

export function readImageHdu(bytes: Uint8Array, hdu: FitsHdu): FitsImage {
  const h = hdu.header;
  const bitpix = h.number('BITPIX') as Bitpix;
  const width = h.number('NAXIS1');
  const height = h.number('NAXIS2');
  const n = width * height;
  const size = Math.abs(bitpix) / 8;
  if (hdu.dataStart + n * size > bytes.length) throw new FitsError('The FITS image is truncated.');
  const bscale = h.number('BSCALE', 1);
  const bzero = h.number('BZERO', 0);
  const blank = bitpix > 0 ? h.get('BLANK') : undefined;
  const data = bitpix === 8 || bitpix === 16 || bitpix === -32 ? new Float32Array(n) : new Float64Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset + hdu.dataStart, n * size);
  switch (bitpix) {
    case 8:
      for (let i = 0; i < n; i++) data[i] = view.getUint8(i);
      break;
    case 16:
      for (let i = 0; i < n; i++) data[i] = view.getInt16(i * 2);
      break;
    case 32:
      for (let i = 0; i < n; i++) data[i] = view.getInt32(i * 4);
      break;
    case 64:
      for (let i = 0; i < n; i++) data[i] = Number(view.getBigInt64(i * 8));
      break;
    case -32:
      for (let i = 0; i < n; i++) data[i] = view.getFloat32(i * 4);
      break;
    case -64:
      for (let i = 0; i < n; i++) data[i] = view.getFloat64(i * 8);
      break;
  }
  if (bscale !== 1 || bzero !== 0 || typeof blank === 'number') {
    for (let i = 0; i < n; i++) {
      const v = data[i] as number;
      data[i] = v === blank ? Number.NaN : v * bscale + bzero;
    }
  }
  return { width, height, bitpix, data, header: h };
}

export interface ImageToWrite {
  width: number;
  height: number;
  bitpix: Bitpix;
  /** Physical values, row after row (FITS order: the first row is y = 1). */
  data: ArrayLike<number>;
  /** Stored = round((physical - bzero) / bscale) for integer BITPIX; e.g. 32768 for unsigned 16-bit. */
  bscale?: number;
  bzero?: number;
  /** More header cards (WCS, OBJECT...), after the structural ones. */
  cards?: readonly CardInput[];
}

const RANGE: Record<number, [number, number]> = { 8: [0, 255], 16: [-32768, 32767], 32: [-2147483648, 2147483647] };

/** A FITS file with the image in its primary HDU. */
export function writeImage(image: ImageToWrite): Uint8Array {
  const { width, height, bitpix } = image;
  const bscale = image.bscale ?? 1;
  const bzero = image.bzero ?? 0;
  const n = width * height;
  if (image.data.length !== n) throw new FitsError(`The image has ${image.data.length} values, not ${width} x ${height}.`);
  const cards: CardInput[] = [
    { keyword: 'SIMPLE', value: true },
    { keyword: 'BITPIX', value: bitpix },
    { keyword: 'NAXIS', value: 2 },
    { keyword: 'NAXIS1', value: width },
    { keyword: 'NAXIS2', value: height },
    ...(bzero !== 0 ? [{ keyword: 'BZERO', value: bzero, format: 'real' as const }] : []),
    ...(bscale !== 1 ? [{ keyword: 'BSCALE', value: bscale, format: 'real' as const }] : []),
    ...(image.cards ?? []),
  ];
  const head = headerBytes(cards);
  const size = Math.abs(bitpix) / 8;
  const out = new Uint8Array(head.length + Math.ceil((n * size) / BLOCK) * BLOCK);
  out.set(head);
  const view = new DataView(out.buffer, head.length, n * size);
  const range = RANGE[bitpix];
  const stored = (v: number): number => {
    const s = Math.round((v - bzero) / bscale);
    return range ? Math.min(range[1], Math.max(range[0], s)) : s;
  };
  for (let i = 0; i < n; i++) {
    const v = image.data[i] as number;
    switch (bitpix) {
      case 8:
        view.setUint8(i, stored(v));
        break;
      case 16:
        view.setInt16(i * 2, stored(v));
        break;
      case 32:
        view.setInt32(i * 4, stored(v));
        break;
      case 64:
        view.setBigInt64(i * 8, BigInt(stored(v)));
        break;
      case -32:
        view.setFloat32(i * 4, (v - bzero) / bscale);
        break;
      case -64:
        view.setFloat64(i * 8, (v - bzero) / bscale);
        break;
    }
  }
  return out;
}
