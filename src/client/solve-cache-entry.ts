/**
 * Keys and entries of the solve cache (see solve-cache.ts): a content hash, the key made of it
 * and the options, and the JSON entry of a finished solve, checked when a store gives it back.
 */
import type { Calibration } from '../protocol/models.js';
import type { ResultFile } from '../protocol/result-kinds.js';
import type { WireUploadOptions } from '../protocol/upload-options.js';
import { platform } from '../platform/web-platform.js';
import type { MemoryStore, UploadDescriptor } from './solve-input.js';
import type { SolveQuality } from './quality.js';
import { CACHED_SOLVE_FORMAT, MAX_CACHE_ENTRY_BYTES, type CachedSolve, type SolveCacheStore } from './solve-cache.js';
import { stable } from './stable-json.js';

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256(bytes: Uint8Array): Promise<string> {
  return hex(await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

/**
 * SHA-256 of what an upload sends (hex): a file (streamed, in Node), bytes, a Blob, or a source
 * list (its positions). `null` for what has no fixed content here: a URL (the server fetches it,
 * and it may change) or a stream (read once, at the upload).
 */
export async function contentHash(upload: UploadDescriptor, memory: MemoryStore): Promise<string | null> {
  switch (upload.kind) {
    case 'file':
      return platform().sha256File(upload.path);
    case 'sourceList':
      return sha256(new TextEncoder().encode(JSON.stringify({ x: upload.x, y: upload.y })));
    case 'memory': {
      const held = memory.get(upload.ref);
      if (held instanceof Uint8Array) return sha256(held);
      if (typeof Blob !== 'undefined' && held instanceof Blob) return sha256(new Uint8Array(await held.arrayBuffer()));
      return null;
    }
    case 'url':
      return null;
  }
}

/**
 * The cache key of a solve: its content's hash, the upload options that reach the server, and
 * `scope` (the servers asked: a job id means nothing elsewhere).
 */
export async function solveCacheKey(content: string, options: WireUploadOptions, scope: string): Promise<string> {
  return sha256(new TextEncoder().encode(JSON.stringify({ v: 1, content, options: stable(options), scope })));
}

function toBase64(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

export function fromBase64(text: string): Uint8Array {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** The entry for a finished solve; the WCS file is kept when given and small enough. */
export function cacheEntry(solve: {
  server: string;
  subid: number;
  jobId: number;
  calibration: Calibration;
  hash: string | null;
  wcs?: ResultFile | undefined;
  quality?: SolveQuality | null;
}): CachedSolve {
  const entry: CachedSolve = {
    format: CACHED_SOLVE_FORMAT,
    server: solve.server,
    subid: solve.subid,
    jobId: solve.jobId,
    calibration: solve.calibration,
    hash: solve.hash,
    wcs: solve.wcs ? { filename: solve.wcs.filename, contentType: solve.wcs.contentType, base64: toBase64(solve.wcs.bytes) } : null,
    quality: solve.quality ?? null,
    solvedAt: new Date().toISOString(),
  };
  // The entry is bounded: without its WCS file it is a few hundred bytes.
  return JSON.stringify(entry).length > MAX_CACHE_ENTRY_BYTES ? { ...entry, wcs: null } : entry;
}

const positiveInt = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) > 0;
const finite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
/** Strict base64 (what toBase64 writes): anything atob accepts, so decoding it cannot throw. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A quality report as measureQuality makes it: every field of its type, as the CLI prints them. */
function isQuality(q: unknown): q is SolveQuality {
  if (typeof q !== 'object' || q === null) return false;
  const r = q as Partial<SolveQuality>;
  return (
    Number.isSafeInteger(r.matchedStars) &&
    (r.matchedStars as number) >= 0 &&
    (r.rmsArcsec === null || (finite(r.rmsArcsec) && (r.rmsArcsec as number) >= 0)) &&
    (r.logOdds === null || finite(r.logOdds)) &&
    typeof r.suspect === 'boolean'
  );
}

/** Whether a store's answer is an entry this version wrote; anything else counts as a miss. */
export function isCachedSolve(value: unknown): value is CachedSolve {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Partial<CachedSolve>;
  const c = e.calibration as Partial<Calibration> | undefined;
  const w = e.wcs;
  return (
    e.format === CACHED_SOLVE_FORMAT &&
    typeof e.server === 'string' &&
    positiveInt(e.subid) &&
    positiveInt(e.jobId) &&
    typeof c === 'object' &&
    c !== null &&
    ['ra', 'dec', 'radius', 'pixscale', 'orientation'].every((k) => finite(c[k as keyof Calibration])) &&
    (c.parity === 1 || c.parity === -1) &&
    (e.hash === null || typeof e.hash === 'string') &&
    (w === null || (typeof w === 'object' && typeof w?.base64 === 'string' && BASE64.test(w.base64) && typeof w.filename === 'string' && typeof w.contentType === 'string')) &&
    (e.quality === null || isQuality(e.quality))
  );
}

/**
 * The server to ask for an entry's job: the one that solved it, when it is still among the
 * servers asked (a job id means nothing elsewhere); `null` (the primary) otherwise.
 */
export function cachedServer(entry: CachedSolve, apiUrls: readonly string[]): string | null {
  return knownServer(entry.server, apiUrls);
}

/** A recorded server (a cache entry's, a CLI journal's) when this session asks it too, else `null`: the primary. */
export function knownServer(server: string | null | undefined, apiUrls: readonly string[]): string | null {
  return server && apiUrls.includes(server) ? server : null;
}

/** The WCS file of an entry, as a fetched ResultFile; `undefined` when the entry has none. */
export function cachedWcsFile(entry: CachedSolve): ResultFile | undefined {
  if (!entry.wcs) return undefined;
  return { kind: 'wcs', filename: entry.wcs.filename, contentType: entry.wcs.contentType, bytes: fromBase64(entry.wcs.base64) };
}

/**
 * How long a store's get or set may take: a store of the caller's that never answers costs a
 * miss (or an entry not kept), never a solve that waits for ever.
 */
export const CACHE_STORE_TIMEOUT_MS = 10_000;

function bounded<T>(work: T | Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('The cache store did not answer in time.')), CACHE_STORE_TIMEOUT_MS);
  });
  return Promise.race([Promise.resolve(work), late]).finally(() => clearTimeout(timer));
}

/**
 * A store's get, with whatever it gives back checked; a store that throws or does not answer
 * within CACHE_STORE_TIMEOUT_MS is a miss, and so is an entry whose WCS file does not decode
 * (what a hit is used for must not throw later).
 */
export async function lookUp(store: SolveCacheStore, key: string): Promise<CachedSolve | undefined> {
  try {
    const value = await bounded(store.get(key));
    if (!isCachedSolve(value)) return undefined;
    cachedWcsFile(value);
    return value;
  } catch {
    return undefined;
  }
}

/**
 * Keeps a finished solve under its key. A store that fails or does not answer in time costs the
 * next run an upload, never this one its result. `server` is the solve's, or the session's first
 * when the solve never chose one.
 */
export async function keepEntry(store: SolveCacheStore, key: string, solve: Parameters<typeof cacheEntry>[0]): Promise<void> {
  try {
    await bounded(store.set(key, cacheEntry(solve)));
  } catch {
    // A full disk or a store that refuses.
  }
}
