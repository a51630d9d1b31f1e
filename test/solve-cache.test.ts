/**
 * The client's content cache against the in-repo server on 127.0.0.1 (simulated solver): a
 * renamed copy is answered with no request at all (its calibration and WCS from the cache), any
 * other file goes to the server by job id, the folder store's files are private, and a bad
 * `cache` option is refused before any request.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Client, type ClientOptions } from '../src/client/client.js';
import { ValidationError } from '../src/errors.js';
import type { CachedSolve, SolveCacheStore } from '../src/client/solve-cache.js';
import { startServer, type RunningServer } from 'astrometry-net-server';

const IMAGE = new URL('./fixtures/small.png', import.meta.url).pathname;
const FAST = { minIntervalMs: 10, maxIntervalMs: 60, jitter: 0.1 };

let server: RunningServer;
let dir: string;

beforeAll(async () => {
  server = await startServer({ port: 0, solver: 'simulated', simulated: { ingestMs: 30, queueMs: 20, solveMs: 40 } });
  dir = mkdtempSync(join(tmpdir(), 'solve-cache-test-'));
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const client = (cache: ClientOptions['cache']) =>
  new Client({ apiUrl: server.url, apiKey: server.apiKeys[0], polling: FAST, cache });
const count = (endpoint?: string) => server.requests.filter((r) => endpoint === undefined || r.endpoint === endpoint).length;

describe('cache: { dir }', () => {
  test('a renamed copy is answered from the cache: no upload, no request; its calibration and WCS are the first solve’s', async () => {
    const cacheDir = join(dir, 'state', 'cache');
    const original = join(dir, 'field.png');
    copyFileSync(IMAGE, original);
    const first = await client({ dir: cacheDir }).solve(original, { scaleUnits: 'arcsecperpix', scaleLower: 1, scaleUpper: 3 });
    expect(first.fromCache).toBe(false);
    const wcsFirst = await first.wcs();

    const copy = join(dir, 'renamed copy.png');
    copyFileSync(original, copy);
    const before = count();
    // A new client (a new process, as far as the cache knows): only the folder is shared.
    const second = await client({ dir: cacheDir }).solve(copy, { scaleUnits: 'arcsecperpix', scaleLower: 1, scaleUpper: 3 });
    expect(second.fromCache).toBe(true);
    expect(second.calibration).toEqual(first.calibration);
    expect([second.subid, second.jobId]).toEqual([first.subid, first.jobId]);
    const wcsSecond = await second.wcs();
    expect(wcsSecond.pixelToSky(10, 20)).toEqual(wcsFirst.pixelToSky(10, 20));
    expect(count()).toBe(before);

    // Any other file goes to the server, by the cached job id: exactly one request (no login).
    const quality = await second.quality();
    expect(count() - before).toBe(1);
    expect(server.requests.at(-1)?.path).toBe(`/corr_file/${first.jobId}`);
    expect(quality.matchedStars).toBeGreaterThan(0);

    // Private: the folder 0700, each entry 0600; one JSON file per key and no temp file left.
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
    const names = readdirSync(cacheDir);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^[0-9a-f]{64}\.json$/);
    expect(statSync(join(cacheDir, names[0] as string)).mode & 0o777).toBe(0o600);
  });

  test('other options that change the solution miss the cache and upload', async () => {
    const cacheDir = join(dir, 'cache-options');
    const uploads = count('upload');
    await client({ dir: cacheDir }).solve(IMAGE, { scaleUnits: 'arcsecperpix', scaleLower: 1, scaleUpper: 3 });
    await client({ dir: cacheDir }).solve(IMAGE, { scaleUnits: 'arcsecperpix', scaleLower: 1, scaleUpper: 3.5 });
    const third = await client({ dir: cacheDir }).solve(IMAGE, { scaleUnits: 'arcsecperpix', scaleLower: 1, scaleUpper: 3.5 });
    expect(count('upload') - uploads).toBe(2);
    expect(third.fromCache).toBe(true);
    expect(readdirSync(cacheDir)).toHaveLength(2);
  });
});

describe('cache with solveMany', () => {
  const solveAll = async (cacheDir: string, inputs: string[], files: ('wcs' | 'corr')[] = []) => {
    const out = [];
    for await (const o of client({ dir: cacheDir }).solveMany(inputs, { concurrency: 2, files })) out.push(o);
    return out.sort((a, b) => a.index - b.index);
  };
  const copies = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => {
      const path = join(dir, `${prefix}-${i}.png`);
      copyFileSync(IMAGE, path);
      return path;
    });

  test('a rerun is answered from the cache with no request; solve() and solveMany() share entries', async () => {
    const cacheDir = join(dir, 'cache-many');
    const [a, b, c] = copies('many', 3) as [string, string, string];
    // One solve() first: its entry answers the batch's copy of the same content.
    const single = await client({ dir: cacheDir }).solve(a);
    const uploads = count('upload');
    const first = await solveAll(cacheDir, [b, c]);
    expect(first.map((o) => [o.error, o.fromCache])).toEqual([
      [null, true],
      [null, true],
    ]);
    expect(count('upload') - uploads).toBe(0);
    expect(first[0]?.calibration).toEqual(single.calibration);
    expect([first[0]?.subid, first[0]?.jobId]).toEqual([single.subid, single.jobId]);

    // Other content: uploaded once, then answered from the cache, with no request at all.
    const other = join(dir, 'other.png');
    copyFileSync(new URL('./fixtures/orion.png', import.meta.url).pathname, other);
    const uploaded = await solveAll(cacheDir, [other]);
    expect(uploaded[0]).toMatchObject({ error: null, fromCache: false });
    expect(count('upload') - uploads).toBe(1);
    const before = count();
    const again = await solveAll(cacheDir, [other, c]);
    expect(again.map((o) => o.fromCache)).toEqual([true, true]);
    expect(again[0]?.jobId).toBe(uploaded[0]?.jobId);
    expect(count()).toBe(before);
  });

  test('a file the cache lacks is fetched by the cached job id: no upload, no submission read', async () => {
    const cacheDir = join(dir, 'cache-many-files');
    const [a, b] = copies('files', 2) as [string, string];
    const [solved] = await solveAll(cacheDir, [a]); // no file asked: kept without a WCS file
    const uploads = count('upload');
    const before = server.requests.length;
    const [answered] = await solveAll(cacheDir, [b], ['wcs']);
    expect(answered).toMatchObject({ error: null, fromCache: true, jobId: solved?.jobId });
    expect(answered?.files.wcs?.bytes.length).toBeGreaterThan(0);
    expect(count('upload') - uploads).toBe(0);
    const asked = server.requests.slice(before).map((r) => r.endpoint);
    expect(asked).not.toContain('submission');
    expect(asked).toContain('job');
  });
});

describe('cache with solveMany: the edges', () => {
  const entryFor = (store: Map<string, CachedSolve>) => [...store.values()][0] as CachedSolve;
  const memoryStore = () => {
    const kept = new Map<string, CachedSolve>();
    const store: SolveCacheStore = { get: (key) => kept.get(key), set: (key, value) => void kept.set(key, value) };
    return { kept, store };
  };
  const run = async (store: SolveCacheStore, inputs: Parameters<Client['solveMany']>[0], options: Parameters<Client['solveMany']>[1] = {}) => {
    const c = client(store);
    const out = [];
    for await (const o of c.solveMany(inputs, { concurrency: 2, ...options })) out.push(o);
    return { c, out: out.sort((a, b) => a.index - b.index) };
  };
  const bytesOf = (path: string) => new Uint8Array(readFileSync(path));

  test('a cached job the server no longer has is uploaded after all, and its entry replaced', async () => {
    const { kept, store } = memoryStore();
    await run(store, [IMAGE]);
    const [key, good] = [...kept][0] as [string, CachedSolve];
    // The server forgot it (a database reset): the entry names a job it never had, without a WCS file.
    kept.set(key, { ...good, subid: 999_991, jobId: 999_992, wcs: null });
    const uploads = count('upload');
    const controller = new AbortController();
    const { out } = await run(store, [IMAGE], { files: ['wcs'], signal: controller.signal });
    // Both batches (the job asked for, then the upload) let go of the caller's signal.
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ error: null, fromCache: false });
    expect(out[0]?.files.wcs?.bytes.length).toBeGreaterThan(0);
    expect(count('upload') - uploads).toBe(1);
    expect(entryFor(kept).jobId).toBe(out[0]?.jobId);
    expect(entryFor(kept).wcs).not.toBeNull();
  });

  test('bytes answered from the cache, or by job id, are not left in the session', async () => {
    const { store } = memoryStore();
    const bytes = bytesOf(IMAGE);
    await run(store, [{ bytes, filename: 'a.png' }]);
    const answered = await run(store, [{ bytes: bytes.slice(), filename: 'b.png' }]);
    expect(answered.out[0]).toMatchObject({ error: null, fromCache: true });
    expect(answered.c.session.memory.size).toBe(0);
    const byJob = await run(store, [{ bytes: bytes.slice(), filename: 'c.png' }], { files: ['corr'] });
    expect(byJob.out[0]).toMatchObject({ error: null, fromCache: true });
    expect(byJob.c.session.memory.size).toBe(0);
  });

  test('an abort before the batch starts looks nothing up and sends nothing', async () => {
    const { store } = memoryStore();
    const gets = { n: 0 };
    const counting: SolveCacheStore = { get: (k) => (gets.n++, store.get(k)), set: (k, v) => store.set(k, v) };
    const controller = new AbortController();
    controller.abort();
    const before = count();
    const { out } = await run(counting, [IMAGE, IMAGE], { signal: controller.signal });
    expect(out.map((o) => o.error?.code)).toEqual(['aborted', 'aborted']);
    expect(gets.n).toBe(0);
    expect(count()).toBe(before);
  });

  test('in a sequence, the frame after a cached one is hinted by its cached solution', async () => {
    const { kept, store } = memoryStore();
    const [first, second] = [join(dir, 'seq-1.png'), join(dir, 'seq-2.png')];
    copyFileSync(IMAGE, first);
    copyFileSync(new URL('./fixtures/orion.png', import.meta.url).pathname, second);
    await run(store, [first]);
    const cached = entryFor(kept).calibration;
    const { out } = await run(store, [first, second], { sequence: true });
    expect(out.map((o) => o.fromCache)).toEqual([true, false]);
    expect(out[1]?.hints?.position).toMatchObject({ from: 'previous frame' });
    expect(out[1]?.hints?.position?.ra).toBeCloseTo(cached.ra, 6);
  });
});

describe('cache: a store of your own', () => {
  test('bytes solved twice: the second is answered from the store, which is given JSON', async () => {
    const kept = new Map<string, string>();
    const store: SolveCacheStore = {
      get: async (key) => (kept.has(key) ? (JSON.parse(kept.get(key) as string) as CachedSolve) : undefined),
      set: async (key, value) => void kept.set(key, JSON.stringify(value)),
    };
    const bytes = new Uint8Array(statSync(IMAGE).size);
    const { readFileSync } = await import('node:fs');
    bytes.set(readFileSync(IMAGE));
    const uploads = count('upload');
    const first = await client(store).solve({ bytes, filename: 'a.png' });
    const before = count();
    const second = await client(store).solve({ bytes: bytes.slice(), filename: 'b.png' });
    expect(count('upload') - uploads).toBe(1);
    expect(count()).toBe(before);
    expect(second.fromCache).toBe(true);
    expect(second.calibration).toEqual(first.calibration);
    expect((await second.wcsFile()).bytes).toEqual((await first.wcsFile()).bytes);
  });

  test('what a store gives back is checked: anything but an entry is a miss, and the solve uploads', async () => {
    const store: SolveCacheStore = { get: () => ({ format: 'something else' }) as unknown as CachedSolve, set: () => undefined };
    const uploads = count('upload');
    const result = await client(store).solve(IMAGE);
    expect(result.fromCache).toBe(false);
    expect(count('upload') - uploads).toBe(1);
  });

  test('an entry with a WCS that is not base64, or a quality report of the wrong shape, is a miss: the solve uploads', async () => {
    // A real entry, as the first solve stored it, then spoiled one field at a time.
    const kept = new Map<string, CachedSolve>();
    const store: SolveCacheStore = { get: (key) => kept.get(key), set: (key, value) => void kept.set(key, value) };
    await client(store).solve(IMAGE);
    const [[key, good]] = [...kept] as [[string, CachedSolve]];
    expect(good.wcs).not.toBeNull();
    const spoiled: CachedSolve[] = [
      { ...good, wcs: { ...good.wcs!, base64: 'not base64!' } },
      { ...good, quality: { matchedStars: 'many', rmsArcsec: null, logOdds: null, suspect: false } as never },
      { ...good, quality: { matchedStars: 12, rmsArcsec: 0.4, logOdds: 'high', suspect: false } as never },
      { ...good, quality: {} as never },
    ];
    for (const entry of spoiled) {
      const own: SolveCacheStore = { get: (k) => (k === key ? structuredClone(entry) : undefined), set: () => undefined };
      const uploads = count('upload');
      const result = await client(own).solve(IMAGE);
      expect(result.fromCache).toBe(false);
      expect(count('upload') - uploads).toBe(1);
    }
    const { isCachedSolve } = await import('../src/client/solve-cache-entry.js');
    expect(isCachedSolve(good)).toBe(true);
    expect(spoiled.map(isCachedSolve)).toEqual([false, false, false, false]);
  });

  test('a bad cache option is refused before any request, naming the option', () => {
    const before = count();
    for (const bad of [5, 'folder', { dir: '' }, { get: () => undefined }]) {
      let error: unknown;
      try {
        client(bad as never);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).option).toMatch(/^cache/);
    }
    expect(count()).toBe(before);
  });
});
