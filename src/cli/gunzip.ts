import { gunzipSync } from 'node:zlib';
import { isGzip } from '../fits/index.js';

/** Decompresses gzip (a .fits.gz), else returns the bytes as they are. */
export function maybeGunzip(bytes: Uint8Array): Uint8Array {
  return isGzip(bytes) ? new Uint8Array(gunzipSync(bytes)) : bytes;
}
