/**
 * The solve cache's folder store is bounded: past `maxBytes` (in disk blocks) the entries used
 * longest ago go (a hit counts as use), the entry just written stays, processes sharing the
 * folder see each other's entries, and a bad bound is refused up front.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DEFAULT_CACHE_MAX_BYTES, FileCacheStore } from '../src/platform/file-cache-store.js';
import { CACHED_SOLVE_FORMAT, MAX_CACHE_ENTRY_BYTES, resolveCacheOption, type CachedSolve } from '../src/client/solve-cache.js';
import { ValidationError } from '../src/errors.js';

const MIB = 1024 * 1024;
/** An entry of about 200 KB (its WCS file), so that a few fill a 1 MiB folder. */
function entry(jobId: number): CachedSolve {
  return {
    format: CACHED_SOLVE_FORMAT,
    server: 'http://127.0.0.1:9/api/',
    subid: jobId,
    jobId,
    calibration: { ra: 10, dec: 20, radius: 0.5, pixscale: 2, orientation: 0, parity: 1 },
    hash: null,
    wcs: { filename: 'wcs.fits', contentType: 'application/fits', base64: 'A'.repeat(200_000) },
    quality: null,
    solvedAt: '2026-12-07T00:00:00.000Z',
  };
}
const key = (n: number) => n.toString(16).padStart(64, '0');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'file-cache-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const bytesIn = (folder: string) => readdirSync(folder).reduce((sum, name) => sum + statSync(join(folder, name)).size, 0);

/** Writes entry n with a modification time n seconds into 2026, so their order of use is known. */
function write(store: FileCacheStore, n: number): void {
  store.set(key(n), entry(n));
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, n));
  utimesSync(join(dir, `${key(n)}.json`), at, at);
}

describe('FileCacheStore bound', () => {
  test('past maxBytes, the entries used longest ago go until 3/4 of it is left; the one just written stays', () => {
    const store = new FileCacheStore(dir, MIB);
    for (let n = 1; n <= 5; n++) write(store, n); // about 1 000 000 bytes: under 1 MiB
    expect(readdirSync(dir)).toHaveLength(5);
    write(store, 6); // over: 1, 2 and 3 go (after two, about 800 KB is still above 3/4 MiB)
    const left = readdirSync(dir).sort();
    expect(left).toEqual([4, 5, 6].map((n) => `${key(n)}.json`));
    expect(bytesIn(dir)).toBeLessThanOrEqual(MIB * 0.75);
    expect(store.get(key(1))).toBeUndefined();
    expect(store.get(key(6))?.jobId).toBe(6);
  });

  test('a hit counts as use: a read entry outlives newer ones that were not read', () => {
    const store = new FileCacheStore(dir, MIB);
    for (let n = 1; n <= 5; n++) write(store, n);
    expect(store.get(key(1))?.jobId).toBe(1); // touched now: the newest use of all
    write(store, 6);
    const left = readdirSync(dir).map((name) => parseInt(name.slice(0, 64), 16)).sort((a, b) => a - b);
    expect(left).toContain(1);
    expect(left).not.toContain(2);
    expect(left).not.toContain(3);
  });

  test('a second process sharing the folder evicts by what is on disk, not by its own count', () => {
    const first = new FileCacheStore(dir, MIB);
    for (let n = 1; n <= 4; n++) write(first, n);
    const second = new FileCacheStore(dir, MIB); // lists the folder at its first write
    write(second, 5);
    expect(readdirSync(dir)).toHaveLength(5);
    write(second, 6);
    expect(readdirSync(dir)).toHaveLength(3);
  });

  test('a long-lived process lists the folder again after a quarter of the bound, and sees what others wrote', () => {
    const longLived = new FileCacheStore(dir, MIB);
    write(longLived, 1);
    const other = new FileCacheStore(dir, MIB);
    for (let n = 2; n <= 4; n++) write(other, n);
    write(longLived, 5); // its own count: two entries; under a quarter of the bound written since its listing
    expect(readdirSync(dir)).toHaveLength(5);
    write(longLived, 6); // past a quarter: listed again, six entries are over the bound
    expect(readdirSync(dir)).toHaveLength(3);
  });

  test('entries are counted in disk blocks: thousands of tiny entries cannot take ten times the bound', () => {
    const store = new FileCacheStore(dir, MIB);
    for (let n = 1; n <= 300; n++) store.set(key(n), { ...entry(n), wcs: null }); // about 350 bytes each, a block on disk
    const left = readdirSync(dir).length;
    expect(left).toBeGreaterThan(100);
    expect(left).toBeLessThanOrEqual(MIB / 4096);
  });

  test('a temp file a killed writer left is removed by an eviction an hour later; a fresh one is not', () => {
    const store = new FileCacheStore(dir, MIB);
    write(store, 1);
    const stale = join(dir, `${key(1)}.json.tmp-99999-dead`);
    const fresh = join(dir, `${key(2)}.json.tmp-99999-busy`);
    for (const path of [stale, fresh]) writeFileSync(path, 'partial');
    const longAgo = new Date(Date.now() - 2 * 60 * 60_000);
    utimesSync(stale, longAgo, longAgo);
    for (let n = 2; n <= 6; n++) write(store, n);
    expect(readdirSync(dir)).not.toContain(`${key(1)}.json.tmp-99999-dead`);
    expect(readdirSync(dir)).toContain(`${key(2)}.json.tmp-99999-busy`);
  });

  test('the default bound is 64 MiB', () => {
    expect(new FileCacheStore(dir).maxBytes).toBe(DEFAULT_CACHE_MAX_BYTES);
    expect(DEFAULT_CACHE_MAX_BYTES).toBe(64 * MIB);
  });

  test('cache.maxBytes below one entry, not a whole number, or an unknown key is refused, naming it', () => {
    for (const bad of [MAX_CACHE_ENTRY_BYTES - 1, 1.5 * MIB + 0.5, '64M', -1]) {
      const error = (() => {
        try {
          resolveCacheOption({ dir, maxBytes: bad });
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message).toContain('cache.maxBytes');
    }
    expect(() => resolveCacheOption({ dir, maxBytse: MIB })).toThrow(/cache\.maxBytse/);
    expect((resolveCacheOption({ dir, maxBytes: 2 * MIB }) as FileCacheStore).maxBytes).toBe(2 * MIB);
  });
});
