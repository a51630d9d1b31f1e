/**
 * The solve cache in a folder (Node): one JSON file per key, written atomically (a private temp
 * file, then a rename), readable by its owner only (files 0600, the folder 0700): an entry names
 * the user's jobs and where their images point.
 *
 * The folder is bounded (`maxBytes`, counted in disk blocks: a few hundred bytes of JSON take a
 * block of their own): a pipeline that solves frames for months must not fill its disk with
 * entries it will never ask for again. Past the bound, the entries used longest ago (modification
 * time; a hit touches its entry) go until 3/4 of it is left. Each process keeps a running total
 * from a listing of the folder, so a write costs no listing until the bound is near; it lists the
 * folder again after every quarter of the bound it writes, so processes sharing the folder see
 * each other's entries, and each evicts by what is on disk. Temp files a killed writer left
 * behind go with the first eviction an hour later.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_CACHE_ENTRY_BYTES, type CachedSolve, type SolveCacheStore } from '../client/solve-cache.js';
import { isCachedSolve } from '../client/solve-cache-entry.js';

const KEY = /^[0-9a-f]{64}$/;
const ENTRY = /^[0-9a-f]{64}\.json$/;

/** The folder's default bound: thousands of entries (a calibration with its WCS is a few KB). */
export const DEFAULT_CACHE_MAX_BYTES = 64 * 1024 * 1024;
/** What is left after an eviction, as a share of the bound: a write near it does not list the folder each time. */
const EVICT_TO = 0.75;
/** The folder is listed again after this share of the bound written by this process. */
const RELIST_EVERY = 0.25;
/** A temp file older than this was left by a writer that died. */
const STALE_TEMP_MS = 60 * 60_000;
const TEMP = /^[0-9a-f]{64}\.json\.tmp-/;

/** What a file takes on disk: its blocks where the system says, else its size rounded up to 4 KiB. */
function onDisk(size: number, blocks?: number): number {
  return blocks !== undefined && blocks > 0 ? blocks * 512 : Math.ceil(size / 4096) * 4096;
}

export class FileCacheStore implements SolveCacheStore {
  readonly dir: string;
  readonly maxBytes: number;
  #made = false;
  /** Bytes in the folder as this process last knew them; `undefined` until the first write lists it. */
  #bytes: number | undefined;
  /** Bytes this process wrote since it last listed the folder. */
  #sinceListed = 0;

  constructor(dir: string, maxBytes = DEFAULT_CACHE_MAX_BYTES) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  get(key: string): CachedSolve | undefined {
    if (!KEY.test(key)) return undefined;
    const path = join(this.dir, `${key}.json`);
    try {
      // Bounded: an entry this store wrote is never larger; anything larger is not read.
      if (statSync(path).size > MAX_CACHE_ENTRY_BYTES) return undefined;
      const value = JSON.parse(readFileSync(path, 'utf8')) as unknown;
      if (!isCachedSolve(value)) return undefined;
      this.#touch(path);
      return value;
    } catch {
      return undefined;
    }
  }

  set(key: string, value: CachedSolve): void {
    if (!KEY.test(key)) throw new Error(`Not a cache key: ${key}`);
    const text = JSON.stringify(value);
    if (text.length > MAX_CACHE_ENTRY_BYTES) return;
    this.#makeDir();
    // Listed before the write, so that the entry is counted once.
    if (this.#bytes === undefined || this.#sinceListed >= this.maxBytes * RELIST_EVERY) {
      this.#bytes = this.#listedBytes();
      this.#sinceListed = 0;
    }
    const path = join(this.dir, `${key}.json`);
    const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      writeFileSync(tmp, text, { mode: 0o600 });
      renameSync(tmp, path);
    } catch (error) {
      try {
        unlinkSync(tmp);
      } catch {
        // never written
      }
      throw error;
    }
    // An entry written again over itself is counted twice until the folder is listed again.
    const written = onDisk(Buffer.byteLength(text));
    this.#bytes += written;
    this.#sinceListed += written;
    if (this.#bytes > this.maxBytes) this.#evict(path);
  }

  /** A hit is recent use: eviction keeps it longest. Failing to say so costs nothing. */
  #touch(path: string): void {
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // a read-only folder: the entry is still answered
    }
  }

  /** The entries with what each takes on disk; with `sweep`, temp files a dead writer left are removed. */
  #entries(sweep = false): { path: string; size: number; mtimeMs: number }[] {
    const out: { path: string; size: number; mtimeMs: number }[] = [];
    const now = Date.now();
    for (const name of readdirSync(this.dir)) {
      const entry = ENTRY.test(name);
      if (!entry && !(sweep && TEMP.test(name))) continue;
      const path = join(this.dir, name);
      try {
        const { size, blocks, mtimeMs } = statSync(path);
        if (entry) out.push({ path, size: onDisk(size, blocks), mtimeMs });
        else if (now - mtimeMs > STALE_TEMP_MS) unlinkSync(path);
      } catch {
        // removed meanwhile (another process evicting)
      }
    }
    return out;
  }

  #listedBytes(): number {
    return this.#entries().reduce((sum, e) => sum + e.size, 0);
  }

  /** Removes the entries used longest ago until EVICT_TO of the bound is left; never the one just written. */
  #evict(keep: string): void {
    const entries = this.#entries(true).sort((a, b) => a.mtimeMs - b.mtimeMs);
    let bytes = entries.reduce((sum, e) => sum + e.size, 0);
    const target = this.maxBytes * EVICT_TO;
    for (const entry of entries) {
      if (bytes <= target) break;
      if (entry.path === keep) continue;
      try {
        unlinkSync(entry.path);
      } catch {
        // gone already
      }
      bytes -= entry.size;
    }
    this.#bytes = bytes;
    this.#sinceListed = 0;
  }

  #makeDir(): void {
    if (this.#made) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is masked by the umask, and an existing folder keeps its own: set it.
    chmodSync(this.dir, 0o700);
    this.#made = true;
  }
}
