/**
 * Any supported image to one grey plane of floats, in FITS pixel order: element (i, j) is the
 * pixel x = i + 1, y = j + 1. A FITS image is taken as stored. A PNG or JPEG is taken row by row
 * from the top, so its top row is y = 1, as solve-field's own conversion (an-pnmtofits) does and
 * as nova reads an x/y list made for such an image.
 */
import { decode as decodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { FitsError, findImageHdu, isFits, isGzip, readHdus, readImageHdu } from '../fits/index.js';
import { ImageError } from './image-error.js';
import { jpegFrame, type JpegFrame } from './jpeg-frame.js';
import { budgetBytes, checkSize, DEFAULT_MAX_PIXELS, gunzip } from './gunzip.js';

export { DEFAULT_MAX_PIXELS };


export interface DecodeOptions {
  /** Largest image decoded, in pixels (width × height); a larger one is `image_too_large`. Default 250 million. */
  maxPixels?: number;
}


export interface GreyImage {
  width: number;
  height: number;
  data: Float32Array;
  /** True when values are whole numbers of a fixed step (8/16-bit pixels): noise never falls below it. */
  quantised: boolean;
}

export type ImageFormat = 'fits' | 'png' | 'jpeg';

export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (isFits(bytes)) return 'fits';
  return undefined;
}

/**
 * Inflates a PNG's image data as a stream, counting and keeping nothing, and refuses data that
 * inflates past what its header's size needs: fast-png would otherwise inflate it all, whatever
 * the header says (a 300 KB file declaring 100 × 100 pixels can hold a gigabyte of zeros).
 */
async function checkPngData(bytes: Uint8Array, width: number, height: number): Promise<void> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bitDepth = bytes[24] ?? 8;
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[bytes[25] ?? 0] ?? 4;
  // Rows with their filter byte; Adam7 interlacing adds a few filter bytes per pass.
  const needed = height * (1 + Math.ceil((width * channels * bitDepth) / 8));
  const cap = needed + 8 * height + 65_536;
  const idat: Uint8Array[] = [];
  for (let at = 8; at + 12 <= bytes.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (type === 'IDAT') idat.push(bytes.subarray(at + 8, Math.min(bytes.length, at + 8 + length)));
    if (type === 'IEND') break;
    at += 12 + length;
  }
  const reader = new Blob(idat as Uint8Array<ArrayBuffer>[]).stream().pipeThrough(new DecompressionStream('deflate')).getReader();
  let total = 0;
  try {
    for (;;) {
      const next = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (next.done) return;
      total += next.value.length;
      if (total > cap) {
        throw new ImageError('invalid_image', `The PNG's data inflates past what its ${width} × ${height} pixels need (${needed} bytes): refused before decoding.`, { format: 'png', width, height });
      }
    }
  } finally {
    void reader.cancel().catch(() => undefined);
  }
}

/** The size in a PNG's IHDR chunk (bytes 16 to 23). */
function pngSize(bytes: Uint8Array): { width: number; height: number } {
  if (bytes.length < 24) throw new ImageError('invalid_image', 'The PNG file is truncated before its header.', { format: 'png' });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** The size in a JPEG's start-of-frame segment, found by walking the segments before it. */
function jpegSize(bytes: Uint8Array): JpegFrame {
  const frame = jpegFrame(bytes);
  if (!frame) throw new ImageError('invalid_image', 'The JPEG file has no frame header (start of frame) before its data ends.', { format: 'jpeg' });
  return frame;
}

/** Mean of the colour channels, ignoring alpha. */
function toGrey(src: ArrayLike<number>, width: number, height: number, channels: number): Float32Array {
  const n = width * height;
  const out = new Float32Array(n);
  const colours = channels >= 3 ? 3 : 1;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let c = 0; c < colours; c++) sum += src[i * channels + c] as number;
    out[i] = sum / colours;
  }
  return out;
}

/**
 * A FITS (gzip allowed), PNG or JPEG file's pixels as one grey plane, in FITS pixel order. The
 * size the header declares is checked against `maxPixels` before anything is decoded; a file
 * that cannot be read is an ImageError (`invalid_image`, `invalid_fits`, `image_too_large`).
 */
export async function decodeImage(input: Uint8Array, options: DecodeOptions = {}): Promise<GreyImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(Number.isFinite(maxPixels) && maxPixels > 0)) throw new ImageError('image_too_large', `maxPixels must be a number above 0 (got ${maxPixels}).`, { limit: maxPixels });
  const bytes = isGzip(input) ? await gunzip(input, { maxPixels }) : input;
  const format = sniffFormat(bytes);
  if (format === 'fits') return decodeFits(bytes, maxPixels);
  if (format === 'png') {
    const { width, height } = pngSize(bytes);
    checkSize('png', width, height, maxPixels);
    await checkPngData(bytes, width, height);
    let png;
    try {
      png = decodePng(bytes);
    } catch (error) {
      throw new ImageError('invalid_image', `The PNG file cannot be decoded: ${(error as Error).message}`, { format, width, height, cause: error });
    }
    if (png.palette) {
      const palette = png.palette;
      const n = png.width * png.height;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const c = palette[png.data[i] as number] ?? [0, 0, 0];
        out[i] = ((c[0] ?? 0) + (c[1] ?? 0) + (c[2] ?? 0)) / 3;
      }
      return { width: png.width, height: png.height, data: out, quantised: true };
    }
    return { width: png.width, height: png.height, data: toGrey(png.data, png.width, png.height, png.channels), quantised: true };
  }
  if (format === 'jpeg') {
    const { width, height } = jpegSize(bytes);
    checkSize('jpeg', width, height, maxPixels);
    let img;
    try {
      img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: false,
        maxResolutionInMP: Math.ceil(maxPixels / 1e6),
        maxMemoryUsageInMB: Math.ceil(budgetBytes(maxPixels) / 2 ** 20),
      });
    } catch (error) {
      throw new ImageError('invalid_image', `The JPEG file cannot be decoded: ${(error as Error).message}`, { format, width, height, cause: error });
    }
    const channels = img.data.length / (img.width * img.height);
    return { width: img.width, height: img.height, data: toGrey(img.data, img.width, img.height, channels), quantised: true };
  }
  const zip = bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  throw new ImageError('invalid_image', `Not a FITS, PNG or JPEG image${zip ? ' (it is a zip archive)' : ''}.`);
}

function decodeFits(bytes: Uint8Array, maxPixels: number): GreyImage {
  try {
    const hdu = findImageHdu(readHdus(bytes));
    if (!hdu) throw new FitsError('The FITS file holds no image.');
    checkSize('fits', hdu.header.number('NAXIS1', 0), hdu.header.number('NAXIS2', 0), maxPixels);
    const image = readImageHdu(bytes, hdu);
    const data = image.data instanceof Float32Array ? image.data : Float32Array.from(image.data);
    return { width: image.width, height: image.height, data, quantised: image.bitpix > 0 };
  } catch (error) {
    if (error instanceof ImageError) throw error;
    throw new ImageError('invalid_fits', `The FITS file cannot be read: ${(error as Error).message}`, { format: 'fits', cause: error });
  }
}
