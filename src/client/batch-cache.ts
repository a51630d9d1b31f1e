/**
 * `solveMany` with a `cache`: every input with fixed content is looked up before the batch
 * starts, under the key `solve()` uses (content, upload options after header hints, servers), so
 * the two find each other's entries. Loaded only by a batch whose session has a cache.
 *
 * A hit whose cached files cover what the batch asks for (`files`) is answered with no request;
 * one that lacks a file goes to the server by its job id, with no upload (and is uploaded after
 * all if the server no longer has that job). A solved input is kept with the WCS file when the
 * batch fetched it: no request is made for the cache's sake.
 */
import type { FileResultKind, ResultFile } from '../protocol/result-kinds.js';
import type { WireUploadOptions } from '../protocol/upload-options.js';
import { scopeOf } from './cached-solve.js';
import type { Session } from './session.js';
import { cachedServer, cachedWcsFile, contentHash, keepEntry, lookUp, solveCacheKey } from './solve-cache-entry.js';
import type { CachedSolve, SolveCacheStore } from './solve-cache.js';
import type { MemoryStore, UploadDescriptor } from './solve-input.js';

/**
 * What the cache knows of one input: its key (`null`: no fixed content), and its entry on a hit.
 * An entry's WCS file is kept only when the batch asks for it: a rerun of thousands of cached
 * frames then holds a few hundred bytes for each.
 */
export interface CacheLookup {
  key: string | null;
  hit: CachedSolve | undefined;
}

/**
 * Looks every input up, one after the other (a file is hashed as a stream). Stops at an abort:
 * the inputs not looked up yet count as misses (a stopped batch starts none of them).
 */
export async function lookUpAll(
  session: Session,
  store: SolveCacheStore,
  inputs: { uploads: readonly UploadDescriptor[]; wires: readonly WireUploadOptions[]; memory: MemoryStore; files: readonly FileResultKind[] },
  signal: AbortSignal | undefined,
): Promise<CacheLookup[]> {
  const scope = scopeOf(session);
  const keepWcs = inputs.files.includes('wcs');
  const out: CacheLookup[] = [];
  for (const [index, upload] of inputs.uploads.entries()) {
    if (signal?.aborted) {
      out.push({ key: null, hit: undefined });
      continue;
    }
    // An input that cannot be read is a miss here; its upload says why.
    const content = await contentHash(upload, inputs.memory).catch(() => null);
    const key = content === null ? null : await solveCacheKey(content, inputs.wires[index] as WireUploadOptions, scope);
    const hit = key === null ? undefined : await lookUp(store, key);
    out.push({ key, hit: hit && !keepWcs ? { ...hit, wcs: null } : hit });
  }
  return out;
}

/** Whether a hit holds every file asked for (the WCS file is the only one an entry keeps). */
export function covers(hit: CachedSolve, asked: readonly FileResultKind[]): boolean {
  return asked.every((kind) => kind === 'wcs' && hit.wcs !== null);
}

/** The files a hit answers with, when they are every file asked for; `undefined` when one is missing. */
export function cachedFiles(hit: CachedSolve, asked: readonly FileResultKind[]): Partial<Record<FileResultKind, ResultFile>> | undefined {
  const wcs = asked.includes('wcs') ? cachedWcsFile(hit) : undefined;
  if (asked.some((kind) => kind !== 'wcs' || !wcs)) return undefined;
  return wcs ? { wcs } : {};
}

/** Where a hit's job is asked, when a file it lacks is fetched: its own server when the session has it. */
export function serverOfHit(hit: CachedSolve, session: Session): string | null {
  return cachedServer(hit, session.apiUrls);
}

/** Whether a hit asked for by job id found that the server no longer has the job: it is uploaded after all. */
export function jobGone(error: { code?: string } | null): boolean {
  return error?.code === 'not_found';
}

/** Keeps a solve of this batch (or a hit that gained its WCS file) under its key. */
export { keepEntry as keep };
