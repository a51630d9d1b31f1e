/**
 * `solve()` with a `cache`: looks the input up by content before any request, and keeps the
 * solve once it has its calibration and WCS file. Loaded only by a client that has a cache.
 *
 * A cached result is a solve machine restored in `success`, its calibration and WCS file in the
 * context's results: `calibration` and `wcs()` answer with no request, and any other result goes
 * through the machine's FETCH to the server, by the cached job id, as for any solved job.
 */
import { initialContext } from '../../machines/solve.machine.js';
import type { SolveResult } from './client.js';
import { acceptUpload, type MemoryStore, type SolveInput } from './solve-input.js';
import type { UploadOptions } from '../protocol/upload-options.js';
import type { Session } from './session.js';
import { cachedServer, cachedWcsFile, contentHash, keepEntry, lookUp, solveCacheKey } from './solve-cache-entry.js';
import type { CachedSolve, SolveCacheStore } from './solve-cache.js';
import { Submission } from './submission.js';
import type { WaitOptions } from './started-solve.js';

/** The servers a session asks: a job id is only meaningful there. */
export function scopeOf(session: Session): string {
  return [...session.apiUrls].sort().join(' ');
}

/** The key of an input with its options, or `null` when it has no fixed content (a URL, a stream). */
export async function keyOf(session: Session, input: SolveInput, options: UploadOptions): Promise<string | null> {
  // A scratch store: the bytes are only looked at here; `submit` keeps them if an upload follows.
  const scratch: MemoryStore = new Map();
  const { upload, options: wire } = acceptUpload(input, options, scratch);
  const content = await contentHash(upload, scratch);
  return content === null ? null : solveCacheKey(content, wire, scopeOf(session));
}

/** The solve as a Submission restored in `success`, with what the entry holds: no request made. */
export function restoreCached(entry: CachedSolve, session: Session): Submission {
  const base = initialContext({ input: { schedule: session.schedule, timeoutMs: session.timeoutMs } });
  const wcs = cachedWcsFile(entry);
  const context = {
    ...base,
    // The server that solved it, if this session still has it; its primary otherwise.
    server: cachedServer(entry, session.apiUrls),
    subid: entry.subid,
    jobId: entry.jobId,
    hash: entry.hash,
    jobStatus: 'success' as const,
    results: { calibration: entry.calibration, ...(wcs ? { files: { wcs } } : {}) },
  };
  const snapshot = { status: 'active', value: { success: 'ready' }, historyValue: {}, context, children: {} };
  return Submission.restore({ format: 'astrometry-net-client/solve@1', snapshot }, session);
}

/**
 * Keeps a finished solve: fetches its WCS file first (through the machine, so `wcs()` later
 * finds it there) so that the cached result answers `wcs()` too. A store that fails costs the
 * cache, never the solve.
 */
export async function keepSolved(store: SolveCacheStore, key: string, result: SolveResult, session: Session, wait: WaitOptions): Promise<void> {
  const wcs = await result.wcsFile(wait).catch(() => undefined);
  const server = result.submission.handle.snapshot.context.server ?? session.apiUrl;
  await keepEntry(store, key, { server, subid: result.subid, jobId: result.jobId, calibration: result.calibration, hash: result.hash, wcs });
}

export { lookUp };
