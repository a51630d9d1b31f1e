/**
 * One index file's transfer (downloadIndexFile) and `indexes install` run in this process, against
 * a mirror of the data site on 127.0.0.1 whose 4100 series is Debian's Tycho-2 files under the
 * site's names: what happens when the disk fills, when the mirror announces far more than the file
 * should be, when it trickles, and what a run with resumes leaves on the caller's abort signal.
 */
import { getEventListeners } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadIndexFile } from '../src/indexes/download.js';
import { IndexWriteError } from '../src/indexes/errors.js';
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
const opts = () => ({ dispatcher, headersTimeoutMs: 5_000, bodyTimeoutMs: 5_000 });

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
});
