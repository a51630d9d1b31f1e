/**
 * The solve cache in a folder (Node): one JSON file per key, written atomically (a private temp
 * file, then a rename), readable by its owner only (files 0600, the folder 0700): an entry names
 * the user's jobs and where their images point.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_CACHE_ENTRY_BYTES, type CachedSolve, type SolveCacheStore } from '../client/solve-cache.js';
import { isCachedSolve } from '../client/solve-cache-entry.js';

const KEY = /^[0-9a-f]{64}$/;

export class FileCacheStore implements SolveCacheStore {
  readonly dir: string;
  #made = false;

  constructor(dir: string) {
    this.dir = dir;
  }

  get(key: string): CachedSolve | undefined {
    if (!KEY.test(key)) return undefined;
    const path = join(this.dir, `${key}.json`);
    try {
      // Bounded: an entry this store wrote is never larger; anything larger is not read.
      if (statSync(path).size > MAX_CACHE_ENTRY_BYTES) return undefined;
      const value = JSON.parse(readFileSync(path, 'utf8')) as unknown;
      return isCachedSolve(value) ? value : undefined;
    } catch {
      return undefined;
    }
  }

  set(key: string, value: CachedSolve): void {
    if (!KEY.test(key)) throw new Error(`Not a cache key: ${key}`);
    const text = JSON.stringify(value);
    if (text.length > MAX_CACHE_ENTRY_BYTES) return;
    this.#makeDir();
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
  }

  #makeDir(): void {
    if (this.#made) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is masked by the umask, and an existing folder keeps its own: set it.
    chmodSync(this.dir, 0o700);
    this.#made = true;
  }
}
