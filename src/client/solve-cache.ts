/**
 * Solves kept by what was solved, not by where it came from: the key is a SHA-256 of the
 * input's content, the upload options that change a solution, and the servers asked, so a
 * renamed or copied file is answered without an upload. What is kept is what a result needs
 * to answer without a request (ids, calibration, the WCS file when it was fetched); any other
 * file of a cached result is fetched from the server by its job id.
 *
 * The store is the caller's: a folder in Node (`{ dir }`, see platform/file-cache-store.ts), or
 * any `{ get, set }` (e.g. over IndexedDB in a browser). What it gives back is checked before use.
 *
 * This module is what a Session needs (the option and its check); keys and entries are made in
 * solve-cache-entry.ts, loaded with the first cached solve.
 */
import { ValidationError } from '../errors.js';
import type { Calibration } from '../protocol/models.js';
import { platform } from '../platform/web-platform.js';
import type { SolveQuality } from './quality.js';

export const CACHED_SOLVE_FORMAT = 'astrometry-net-client/cached-solve@1';

/** The largest entry a store is given, serialised: a WCS file that would pass it is left out. */
export const MAX_CACHE_ENTRY_BYTES = 1024 * 1024;

/** One finished solve, as a cache keeps it: JSON. */
export interface CachedSolve {
  format: typeof CACHED_SOLVE_FORMAT;
  /** The API URL of the server that solved it (its job id means something there only). */
  server: string;
  subid: number;
  jobId: number;
  calibration: Calibration;
  /** SHA-1 of the uploaded bytes, when the server reported it. */
  hash: string | null;
  /** The WCS file, when it was fetched and fits the entry size. */
  wcs: { filename: string; contentType: string; base64: string } | null;
  /** The quality report, when one was made. */
  quality: SolveQuality | null;
  /** When it was solved (ISO 8601). */
  solvedAt: string;
}

/** Where cached solves are kept: any store of JSON values by key (a 64-hex-digit string). */
export interface SolveCacheStore {
  get(key: string): CachedSolve | undefined | null | Promise<CachedSolve | undefined | null>;
  set(key: string, value: CachedSolve): void | Promise<void>;
}

/**
 * The `cache` option: a folder (Node), or a store of your own. A folder holds at most `maxBytes`
 * (default 64 MiB, at least 1 MiB): past it, the entries used longest ago are removed.
 */
export type SolveCacheOption = { dir: string; maxBytes?: number } | SolveCacheStore;

/** The option as given, checked: a store, or a folder made into one (Node only). */
export function resolveCacheOption(value: unknown): SolveCacheStore | undefined {
  if (value === undefined || value === null || value === false) return undefined;
  const allowed = '{ dir: "<folder>", maxBytes? } (Node), or a store { get(key), set(key, value) }';
  if (typeof value !== 'object') throw new ValidationError('cache', value, allowed);
  const o = value as Record<string, unknown>;
  if ('dir' in o) {
    if (typeof o.dir !== 'string' || o.dir.trim() === '') throw new ValidationError('cache.dir', o.dir, 'a folder path');
    const unknown = Object.keys(o).filter((k) => k !== 'dir' && k !== 'maxBytes');
    if (unknown.length > 0) throw new ValidationError(`cache.${unknown[0]}`, o[unknown[0] as string], 'dir and maxBytes only');
    if (o.maxBytes !== undefined && (!Number.isSafeInteger(o.maxBytes) || (o.maxBytes as number) < MAX_CACHE_ENTRY_BYTES)) {
      throw new ValidationError('cache.maxBytes', o.maxBytes, `a whole number of bytes, at least ${MAX_CACHE_ENTRY_BYTES} (one entry's largest size)`);
    }
    return platform().fileCacheStore(o.dir, o.maxBytes as number | undefined);
  }
  if (typeof o.get !== 'function' || typeof o.set !== 'function') throw new ValidationError('cache', '(an object without get and set)', allowed);
  return value as SolveCacheStore;
}

