/**
 * The CLI's solve cache: finished solves kept by content in the XDG state folder
 * (`$XDG_STATE_HOME/astrometry-net/solve-cache`, default `~/.local/state/astrometry-net/solve-cache`),
 * so a renamed or copied file is answered with no upload. `--no-cache` turns it off. The store and
 * its keys are the library's (`cache` option of Client), so both find each other's entries.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { contentHash, lookUp, solveCacheKey } from '../client/solve-cache-entry.js';
import type { CachedSolve } from '../client/solve-cache.js';
import type { UploadDescriptor } from '../client/solve-input.js';
import type { WireUploadOptions } from '../protocol/upload-options.js';
import { FileCacheStore } from '../platform/file-cache-store.js';

/** Where the CLI keeps its solve cache. */
export function cacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'astrometry-net', 'solve-cache');
}

export class ContentCache {
  readonly store: FileCacheStore;
  /** The servers asked (a job id means nothing elsewhere). */
  readonly #scope: string;

  constructor(scope: string, dir = cacheDirectory()) {
    this.store = new FileCacheStore(dir);
    this.#scope = scope;
  }

  /** The key of an input with its options; `null` for a URL (the server fetches it: its content is not known here). */
  async keyOf(upload: UploadDescriptor, options: WireUploadOptions): Promise<string | null> {
    const content = await contentHash(upload, new Map());
    return content === null ? null : solveCacheKey(content, options, this.#scope);
  }

  get(key: string): Promise<CachedSolve | undefined> {
    return lookUp(this.store, key);
  }

  /** Keeps a finished solve; a cache that cannot be written costs the next run an upload, never this one its result. */
  set(key: string, entry: CachedSolve): string | null {
    try {
      this.store.set(key, entry);
      return null;
    } catch (error) {
      return `Could not write the solve cache (${this.store.dir}): ${(error as Error).message}`;
    }
  }
}
