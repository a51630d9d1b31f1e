/**
 * Any supported image to one grey plane of floats, in FITS pixel order: element (i, j) is the
 * pixel x = i + 1, y = j + 1. A FITS image is taken as stored. A PNG or JPEG is taken row by row
 * from the top, so its top row is y = 1, as solve-field's own conversion (an-pnmtofits) does and
 * as nova reads an x/y list made for such an image.
 */
import { decode as decodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { isFits, isGzip, readImage } from '../fits/index.js';

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

/** Decompresses gzip with the platform's DecompressionStream (Node 18+ and browsers). */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
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

/** A FITS (gzip allowed), PNG or JPEG file's pixels as one grey plane, in FITS pixel order. */
export async function decodeImage(input: Uint8Array): Promise<GreyImage> {
  const bytes = isGzip(input) ? await gunzip(input) : input;
  const format = sniffFormat(bytes);
  if (format === 'fits') {
    const image = readImage(bytes);
    const data = image.data instanceof Float32Array ? image.data : Float32Array.from(image.data);
    return { width: image.width, height: image.height, data, quantised: image.bitpix > 0 };
  }
  if (format === 'png') {
    const png = decodePng(bytes);
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
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048, maxResolutionInMP: 400 });
    const channels = img.data.length / (img.width * img.height);
    return { width: img.width, height: img.height, data: toGrey(img.data, img.width, img.height, channels), quantised: true };
  }
  throw new TypeError('Not a FITS, PNG or JPEG image.');
}
