/**
 * One index file's transfer (downloadIndexFile) and `indexes install` run in this process, against
 * a mirror of the data site on 127.0.0.1 whose 4100 series is Debian's Tycho-2 files under the
 * site's names: what happens when the disk fills, when the mirror announces far more than the file
 * should be, when it trickles, and what a run with resumes leaves on the caller's abort signal.
 */
import { getEventListeners } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadIndexFile } from '../src/indexes/download.js';
import { DownloadCutError, IndexWriteError } from '../src/indexes/errors.js';
import { installIndexes } from '../src/indexes/install.js';
import { startIndexMirror, type IndexMirror } from './helpers/index-mirror.js';

const SYSTEM_INDEX = '/usr/share/astrometry';

let work: string;
let mirror: IndexMirror;
let dispatcher: Agent;
let n = 0;
/** A fresh, empty target folder. */
const freshDir = async () => {
  const dir = path.join(work, `target-${n++}`);
  await mkdir(dir);
  return dir;
};

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'indexes-download-test-'));
  await mkdir(path.join(work, 'mirror', '4100'), { recursive: true });
  for (let s = 7; s <= 19; s++) {
    const two = String(s).padStart(2, '0');
    await symlink(path.join(SYSTEM_INDEX, `index-tycho2-${two}.littleendian.fits`), path.join(work, 'mirror', '4100', `index-41${two}.fits`));
  }
  mirror = await startIndexMirror(path.join(work, 'mirror'));
  dispatcher = new Agent();
});

afterAll(async () => {
  await dispatcher?.close();
  await mirror?.close();
  await rm(work, { recursive: true, force: true });
});

const url = (name: string) => `${mirror.url}/4100/${name}`;
const opts = () => ({ dispatcher, headersTimeoutMs: 5_000, bodyTimeoutMs: 5_000, maxBytes: 1e9, minBytesPerSecond: 50_000 });

describe('one file', () => {
  it('fails with IndexWriteError when the disk is full, instead of an uncaught exception', async () => {
    const dir = await freshDir();
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    await symlink('/dev/full', path.join(dir, 'index-4119.fits.part'));
    const err = await downloadIndexFile(url('index-4119.fits'), dir, 'index-4119.fits', { indexId: 4119, healpix: -1 }, opts()).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(IndexWriteError);
    expect((err as IndexWriteError).code).toBe('write_failed');
    expect((err as Error).message).toMatch(/^cannot write .*index-4119\.fits\.part: ENOSPC: no space left on device/);
    expect(await readdir(dir)).toEqual(['index-4119.fits.part']);
  });

  it('is cut once it falls behind the slowest average allowed, though the mirror never stays silent long', async () => {
    const dir = await freshDir();
    // 20.5 MB at 1 MB/s, never silent for more than 50 ms; at least 10 MB/s asked: cut after 1 + 2.05 s.
    mirror.cut('4100/index-4110.fits', 15_000, 1_000_000);
    const t0 = performance.now();
    const err = await downloadIndexFile(url('index-4110.fits'), dir, 'index-4110.fits', { indexId: 4110, healpix: -1 }, {
      ...opts(),
      bodyTimeoutMs: 1_000,
      minBytesPerSecond: 10_000_000,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    const elapsed = performance.now() - t0;
    expect(err).toBeInstanceOf(DownloadCutError);
    expect((err as Error).message).toMatch(/broke off at \d+ of 20514240 bytes \(not whole within 3 s \(slower than 10000000 bytes\/s on average\)\)/);
    expect(elapsed).toBeGreaterThan(2_500);
    expect(elapsed).toBeLessThan(6_000);
    // What arrived is kept for a resume.
    expect((await stat(path.join(dir, 'index-4110.fits.part'))).size).toBeGreaterThan(1_000_000);
  }, 30_000);
});

describe('indexes install', () => {
  it('leaves no abort listener on the caller signal after pausing before resumes', async () => {
    const dir = await freshDir();
    // Fields 10000'-10800' wide: index-4117, -4118 and -4119 (about 580 kB together).
    mirror.cut('4100/index-4117.fits', 400, 100_000);
    const controller = new AbortController();
    const err: string[] = [];
    const code = await installIndexes(
      { command: 'install', widthArcmin: [10_000, 10_800], series: [4100], mirror: mirror.url, dryRun: false, retries: 2 },
      dir,
      { out: () => {}, err: (t) => err.push(t), terminal: false, signal: controller.signal },
    );
    expect(code, err.join('')).toBe(0);
    expect(err.join('')).toMatch(/index-4117\.fits: .*broke off.*; resuming \(1 of 2\)/);
    expect((await readdir(dir)).sort()).toEqual(['index-4117.fits', 'index-4118.fits', 'index-4119.fits']);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  }, 30_000);

  it('fetches nothing of a file the mirror announces at more than twice its catalogue size', async () => {
    // A mirror whose index-4119.fits (about 144 kB on the data site) is 20.5 MB.
    const root = path.join(work, 'big-mirror');
    await mkdir(path.join(root, '4100'), { recursive: true });
    await symlink(path.join(SYSTEM_INDEX, 'index-tycho2-10.littleendian.fits'), path.join(root, '4100', 'index-4119.fits'));
    const big = await startIndexMirror(root);
    try {
      const dir = await freshDir();
      const err: string[] = [];
      const code = await installIndexes(
        { command: 'install', widthArcmin: [10_000, 10_800], series: [4100], mirror: big.url, dryRun: false, retries: 2 },
        dir,
        { out: () => {}, err: (t) => err.push(t), terminal: false },
      );
      expect(code).toBe(1);
      expect(err.join('')).toMatch(/index-4119\.fits: announced 20514240 bytes, more than the 288000 this file may have; nothing was fetched/);
      expect(await readdir(dir)).toEqual([]);
      const asked = big.log.filter((r) => r.path === '4100/index-4119.fits');
      expect(asked).toHaveLength(1);
      expect(asked[0]?.sent).toBeLessThan(20_514_240 / 2);
    } finally {
      await big.close();
    }
  }, 30_000);
});
