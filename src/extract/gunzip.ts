/**
 * Bounded gunzip of a .fits.gz held in memory, shared by local extraction and the `hdu` option:
 * a small decompression bomb stops at its first chunks with a typed ImageError, not at the end
 * of memory. No image decoder here, so the `hdu` option loads none.
 */
import { isFits, readHdus } from '../fits/index.js';
import { ImageError } from './image-error.js';

/** The default pixel budget: 250 megapixels, larger than any camera's frame. */
export const DEFAULT_MAX_PIXELS = 250_000_000;

/** Bytes a decode may inflate to: 8 per pixel (a BITPIX -64 FITS), plus room for headers and extensions. */
export const budgetBytes = (maxPixels: number) => maxPixels * 8 + 64 * 1024 * 1024;

export interface GunzipOptions {
  /** Largest image, in pixels: the inflated bytes may not pass `budgetBytes(maxPixels)`. Default 250 million. */
  maxPixels?: number;
  /**
   * Keep every HDU (the `hdu` option needs the extensions). By default a FITS whose primary HDU
   * holds the image is cut after it: a decoder reads that image only.
   */
  wholeFile?: boolean;
}

/** A FITS header longer than this (36 000 cards) is not one: refused rather than read on. */
const MAX_HEADER_BLOCKS = 1000;

/** Where the END card's block ends in `head`, or -1 while it has not come yet. */
function headerEnd(head: Uint8Array): number {
  for (let at = 0; at + 80 <= head.length; at += 80) {
    if (head[at] === 0x45 && head[at + 1] === 0x4e && head[at + 2] === 0x44 && head.subarray(at + 3, at + 80).every((c) => c === 0x20)) {
      return Math.ceil((at + 80) / 2880) * 2880;
    }
  }
  return -1;
}

/**
 * Decompresses gzip as a stream (DecompressionStream: Node 18+ and browsers), refusing to grow
 * past the budget, and past a FITS header that declares more than `maxPixels` as soon as its END
 * card has come: a decompression bomb stops at its first chunks, not at the end of memory. A
 * FITS whose primary HDU holds the image is inflated into one buffer of that HDU's size (the
 * rest is counted, not kept), so the image is held once, not as chunks and again as a whole.
 */
export async function gunzip(bytes: Uint8Array, options: GunzipOptions = {}): Promise<Uint8Array> {
  const { maxPixels = DEFAULT_MAX_PIXELS, wholeFile = false } = options;
  const maxBytes = budgetBytes(maxPixels);
  const reader = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let header: 'pending' | 'read' = 'pending';
  let primary: Uint8Array | undefined;
  let filled = 0;
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        throw new ImageError('invalid_image', `The gzip data is damaged: ${(error as Error).message}`, { cause: error });
      }
      if (next.done) break;
      const chunk = next.value;
      total += chunk.length;
      if (total > maxBytes) {
        throw new ImageError('image_too_large', `The gzip data inflates past ${Math.round(maxBytes / 2 ** 20)} MiB, more than an image of ${maxPixels} pixels needs.`, { limit: maxPixels });
      }
      if (primary) {
        const take = Math.min(chunk.length, primary.length - filled);
        if (take > 0) primary.set(take === chunk.length ? chunk : chunk.subarray(0, take), filled);
        filled += take;
        continue;
      }
      chunks.push(chunk);
      if (header !== 'pending') continue;
      const head = concat(chunks, total);
      // Only FITS comes gzipped (a .fits.gz); anything else is refused at its first bytes rather
      // than inflated to the budget to find out.
      if (head.length >= 9 && !isFits(head)) throw new ImageError('invalid_image', 'The gzip data holds no FITS file (only FITS is read gzipped).');
      const end = headerEnd(head);
      if (end < 0) {
        if (head.length > MAX_HEADER_BLOCKS * 2880) throw new ImageError('invalid_fits', `The FITS header has no END within ${MAX_HEADER_BLOCKS} blocks.`, { format: 'fits' });
        continue;
      }
      if (head.length < end) continue;
      header = 'read';
      checkFitsSize(head, maxPixels);
      const size = wholeFile ? undefined : primaryImageSize(head);
      if (size !== undefined && size <= maxBytes) {
        primary = new Uint8Array(size);
        filled = Math.min(head.length, size);
        primary.set(head.subarray(0, filled));
        chunks.length = 0;
      }
    }
  } finally {
    void reader.cancel().catch(() => undefined);
  }
  return primary ? primary.subarray(0, filled) : concat(chunks, total);
}

/** The bytes of the primary HDU (header and padded data) when it holds an image of two axes or more. */
function primaryImageSize(head: Uint8Array): number | undefined {
  try {
    const [hdu] = readHdus(head, 1);
    if (!hdu || hdu.header.number('NAXIS', 0) < 2) return undefined;
    return hdu.dataStart + Math.ceil(hdu.dataSize / 2880) * 2880;
  } catch {
    return undefined;
  }
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function tooLarge(format: string, width: number, height: number, maxPixels: number): ImageError {
  return new ImageError('image_too_large', `The ${format.toUpperCase()} image is ${width} × ${height} pixels; at most ${maxPixels} pixels are decoded (raise maxPixels to allow more).`, { format, width, height, limit: maxPixels });
}

export function checkSize(format: string, width: number, height: number, maxPixels: number): void {
  if (!(width > 0 && height > 0)) throw new ImageError('invalid_image', `The ${format.toUpperCase()} header declares ${width} × ${height} pixels.`, { format, width, height });
  if (width * height > maxPixels) throw tooLarge(format, width, height, maxPixels);
}

/** The primary FITS header's declared image size, checked before any pixel is read. A header whose END is not in `head` yet passes. */
function checkFitsSize(head: Uint8Array, maxPixels: number): void {
  let hdus;
  try {
    hdus = readHdus(head, 1);
  } catch {
    return;
  }
  const h = hdus[0]?.header;
  if (!h || h.number('NAXIS', 0) < 2) return;
  checkSize('fits', h.number('NAXIS1', 0), h.number('NAXIS2', 0), maxPixels);
}
