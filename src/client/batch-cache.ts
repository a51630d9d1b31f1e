/**
 * `solveMany` with a `cache`: every input with fixed content is looked up before the batch
 * starts, under the key `solve()` uses (content, upload options after header hints, servers), so
 * the two find each other's entries. Loaded only by a batch whose session has a cache.
 *
 * A hit whose cached files cover what the batch asks for (`files`) is answered with no request;
 * one that lacks a file goes to the server by its job id, with no upload. A solved input is kept
 * with the WCS file when the batch fetched it: no request is made for the cache's sake.
 */
import type { ResultFile } from '../protocol/result-kinds.js';
import type { FileResultKind } from '../protocol/result-kinds.js';
import type { WireUploadOptions } from '../protocol/upload-options.js';
import type { Calibration } from '../protocol/models.js';
import { scopeOf } from './cached-solve.js';
import type { Session } from './session.js';
import { cachedServer, cachedWcsFile, cacheEntry, contentHash, lookUp, solveCacheKey } from './solve-cache-entry.js';
import type { CachedSolve, SolveCacheStore } from './solve-cache.js';
import type { UploadDescriptor } from './solve-input.js';

/** What the cache knows of one input: its key (`null`: no fixed content), and its entry on a hit. */
export interface CacheLookup {
  key: string | null;
  hit: CachedSolve | undefined;
}

/** Looks every input up, one after the other (a file is hashed as a stream). */
export async function lookUpAll(session: Session, store: SolveCacheStore, uploads: readonly UploadDescriptor[], wires: readonly WireUploadOptions[]): Promise<CacheLookup[]> {
  const scope = scopeOf(session);
  const out: CacheLookup[] = [];
  for (const [index, upload] of uploads.entries()) {
    const content = await contentHash(upload, session.memory).catch(() => null);
    const key = content === null ? null : await solveCacheKey(content, wires[index] as WireUploadOptions, scope);
    out.push({ key, hit: key === null ? undefined : await lookUp(store, key) });
  }
  return out;
}

/** The files a hit answers with, when they are every file asked for; `undefined` when one is missing. */
export function cachedFiles(hit: CachedSolve, asked: readonly FileResultKind[]): Partial<Record<FileResultKind, ResultFile>> | undefined {
  const wcs = cachedWcsFile(hit);
  if (asked.some((kind) => kind !== 'wcs' || !wcs)) return undefined;
  return asked.length > 0 && wcs ? { wcs } : {};
}

/** Where a hit's job is asked, when a file it lacks is fetched: its own server when the session has it. */
export function serverOfHit(hit: CachedSolve, session: Session): string | null {
  return cachedServer(hit, session.apiUrls);
}

/** Keeps a solved input; a store that fails costs the next run an upload, never this one its result. */
export async function keepSolved(
  store: SolveCacheStore,
  key: string,
  solved: { server: string; subid: number; jobId: number; calibration: Calibration; hash: string | null; wcs: ResultFile | undefined },
): Promise<void> {
  try {
    await store.set(key, cacheEntry(solved));
  } catch {
    // A full disk or a store that refuses.
  }
}
