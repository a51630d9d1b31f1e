/**
 * What differs between Node and a browser, behind one seam, so the library's core imports no
 * Node module and a browser bundle never pulls in undici, form-data or `node:fs`.
 *
 * The core starts with the web platform (`fetch`, no key file); `src/platform-node.ts`
 * replaces it when the Node entry point is imported.
 */
import { ValidationError } from '../errors.js';
import { fetchTransport } from '../transport/fetch.js';
import type { Transport } from '../transport/transport.js';
import type { SolveCacheStore } from '../client/solve-cache.js';

export interface Platform {
  readonly name: 'node' | 'web';
  defaultTransport(): Transport;
  /** An environment variable, where the platform has them. */
  env(name: string): string | undefined;
  /** Where the API key file is looked for, if the platform has files. */
  keyFilePath(): string | undefined;
  readKeyFile(): string | undefined;
  /** Throws ValidationError unless `path` is a readable file (before any request is made). */
  checkReadableFile(path: string): void;
  /** A file's bytes, where the platform has files. */
  readFile(path: string): Promise<Uint8Array>;
  /** SHA-256 of a file (hex), read as a stream: a large file is never held whole. */
  sha256File(path: string): Promise<string>;
  /** The solve cache kept in a folder, where the platform has folders. */
  fileCacheStore(dir: string, maxBytes?: number): SolveCacheStore;
  /** A file's first `maxBytes` bytes (fewer when it is shorter), where the platform has files. */
  readFileHead(path: string, maxBytes: number): Promise<Uint8Array>;
}

const NO_PATHS = 'a Blob, a File or bytes: file paths can only be read in Node';

export const webPlatform: Platform = {
  name: 'web',
  defaultTransport: () => fetchTransport(),
  env: () => undefined,
  keyFilePath: () => undefined,
  readKeyFile: () => undefined,
  checkReadableFile: (path) => {
    throw new ValidationError('file', path, NO_PATHS);
  },
  readFile: (path) => Promise.reject(new ValidationError('file', path, NO_PATHS)),
  sha256File: (path) => Promise.reject(new ValidationError('file', path, NO_PATHS)),
  fileCacheStore: (dir) => {
    throw new ValidationError('cache.dir', dir, 'a store { get(key), set(key, value) }: a cache folder can only be used in Node');
  },
  readFileHead: (path) => Promise.reject(new ValidationError('file', path, NO_PATHS)),
};

let current: Platform = webPlatform;

export function platform(): Platform {
  return current;
}

export function usePlatform(next: Platform): void {
  current = next;
}
