/**
 * A data dir serve cannot write to is named in one line at start, with exit code 1: a read-only
 * file system (a read-only tmpfs, mounted as root), a parent it may not write to (serve run as
 * nobody), a file in the way; never a stack trace, a bare `ENOENT mkdir` or SQLite's `unable to
 * open database file`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runServe } from '../src/cli.js';

const isRoot = process.getuid?.() === 0;
const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js');
const mounts: string[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const m of mounts) execFileSync('umount', ['-l', m]);
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'data-dir-'));
  dirs.push(d);
  return d;
}

/** `astrometry-net serve --data-dir DIR`, in this process: its exit code and what it wrote. */
async function serveWith(dataDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runServe(['--port', '0', '--solver', 'simulated', '--data-dir', dataDir], {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: { ASTROMETRY_SERVE_API_KEYS: 'abcdefghijklmnop' },
    // Should it start after all, it stops at once.
    untilStopped: () => Promise.resolve(),
  });
  return { code, stdout, stderr };
}

describe('a data dir serve cannot write to', () => {
  it.skipIf(!isRoot)('is named in one line: a read-only file system, or a read-only parent', async () => {
    const ro = await tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro]);
    mounts.push(ro);
    expect(await serveWith(ro)).toEqual({ code: 1, stdout: '', stderr: `astrometry-net serve: could not start: cannot write to the data dir ${ro}: read-only file system\n` });
    expect(await serveWith(join(ro, 'astro', 'data'))).toEqual({
      code: 1,
      stdout: '',
      stderr: `astrometry-net serve: could not start: cannot create ${join(ro, 'astro', 'data')}: read-only parent ${ro} (read-only file system)\n`,
    });
  });

  it('is named in one line when a file is in the way', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'file'), 'x');
    expect((await serveWith(join(dir, 'file'))).stderr).toBe(`astrometry-net serve: could not start: the data dir ${join(dir, 'file')} is not a directory\n`);
    expect((await serveWith(join(dir, 'file', 'data'))).stderr).toBe(`astrometry-net serve: could not start: cannot create ${join(dir, 'file', 'data')}: ${join(dir, 'file')} is not a directory\n`);
  });

  it.skipIf(!isRoot)('is named in one line when serve (run as nobody) may not write to it or to its parent; exit code 1', async () => {
    expect(existsSync(BIN), `${BIN} (npm run build)`).toBe(true);
    const parent = await tempDir();
    const locked = join(parent, 'locked');
    await mkdir(locked);
    chmodSync(parent, 0o755);
    chmodSync(locked, 0o555);
    const run = (dataDir: string) =>
      spawnSync(process.execPath, [BIN, '--port', '0', '--solver', 'simulated', '--data-dir', dataDir], {
        uid: 65534,
        gid: 65534,
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ASTROMETRY_SERVE_API_KEYS: 'abcdefghijklmnop' },
        encoding: 'utf8',
        timeout: 20_000,
      });
    const inLocked = run(locked);
    expect({ status: inLocked.status, stdout: inLocked.stdout, stderr: inLocked.stderr }).toEqual({
      status: 1,
      stdout: '',
      stderr: `astrometry-net serve: could not start: cannot write to the data dir ${locked}: permission denied\n`,
    });
    const under = run(join(locked, 'data'));
    expect({ status: under.status, stderr: under.stderr }).toEqual({
      status: 1,
      stderr: `astrometry-net serve: could not start: cannot create ${join(locked, 'data')}: permission denied in parent ${locked}\n`,
    });
  });
});
