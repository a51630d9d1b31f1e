import { gunzipSync } from 'node:zlib';
import { isGzip } from '../fits/index.js';

/** An image's worth: 250 megapixels of 8 bytes, and room for headers. */
export const MAX_IMAGE_BYTES = 250_000_000 * 8 + 64 * 1024 * 1024;

/**
 * Decompresses gzip (a .fits.gz), else returns the bytes as they are. Inflation stops at
 * `maxBytes`: a small bomb cannot take the process's memory.
 */
export function maybeGunzip(bytes: Uint8Array, maxBytes = MAX_IMAGE_BYTES): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return new Uint8Array(gunzipSync(bytes, { maxOutputLength: maxBytes }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new Error(`it inflates past ${Math.round(maxBytes / 2 ** 20)} MiB`, { cause: error });
    }
    throw error;
  }
}
