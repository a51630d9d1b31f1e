/**
 * A full disk during a solve is told as such: the job fails with failure_reason "disk full
 * (ENOSPC) ...", the job log and serve's log say so, and the solver process is recorded and
 * forgotten as usual (its row is written again once the failed solve freed its space). The data
 * dir is a tiny tmpfs (root mounts one), so the real solve-field runs out of space for real.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { DISK_FULL_REASON } from '../src/disk-full.js';
import { startServer, type RunningServer } from '../src/index.js';
import { encodePng } from '../src/render.js';
import { createSolveFieldBackend } from '../src/solvers/solve-field/backend.js';
import { SQLITE_FILE } from '../src/store/open.js';
import { processesUnder } from '../../test/helpers/processes.js';

const isRoot = process.getuid?.() === 0;
const mounts: string[] = [];
const dirs: string[] = [];
const servers: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const m of mounts) execFileSync('umount', ['-l', m]);
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tmpfs(size: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'disk-full-'));
  dirs.push(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

/** A 2500 x 2500 frame of flat sky and a few stars: a 30 kB PNG that solve-field converts to 6 MB first. */
function bigSmoothPng(): Buffer {
  const w = 2500;
  const h = 2500;
  const data = new Uint8Array(w * h).fill(20);
  for (let s = 0; s < 60; s++) {
    const cx = 40 + ((s * 977) % (w - 80));
    const cy = 40 + ((s * 613) % (h - 80));
    for (let y = cy - 3; y <= cy + 3; y++) for (let x = cx - 3; x <= cx + 3; x++) data[y * w + x] = 200;
  }
  return encodePng({ width: w, height: h, channels: 1, data });
}

async function jobEnd(s: RunningServer, subid: number, timeoutMs: number): Promise<{ jobId: number; job: Record<string, unknown> }> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const sub = (await (await fetch(`${s.url}submissions/${subid}`)).json()) as { jobs: (number | null)[]; error_message?: string };
    if (sub.error_message) throw new Error(`ingest failed: ${sub.error_message}`);
    const jobId = sub.jobs[0];
    if (jobId) {
      const job = (await (await fetch(`${s.url}jobs/${jobId}`)).json()) as Record<string, unknown>;
      if (job['status'] === 'success' || job['status'] === 'failure') return { jobId, job };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`submission ${subid}: no finished job within ${timeoutMs} ms`);
}

describe.skipIf(!isRoot)('a full disk', () => {
  it('fails the solve with "disk full (ENOSPC)" in its failure_reason, its job log and serve\'s log; the solver is forgotten as usual', async () => {
    const dataDir = await tmpfs('2m');
    const lines: string[] = [];
    const s = await startServer({ port: 0, solver: 'solve-field', dataDir, log: (l) => lines.push(l) });
    servers.push(s);
    const login = new URLSearchParams({ 'request-json': JSON.stringify({ apikey: s.apiKeys[0] }) });
    const { session } = (await (await fetch(`${s.url}login`, { method: 'POST', body: login })).json()) as { session: string };
    const form = new FormData();
    form.set('request-json', JSON.stringify({ session }));
    form.set('file', new Blob([bigSmoothPng() as Uint8Array<ArrayBuffer>]), 'big.png');
    const { subid } = (await (await fetch(`${s.url}upload`, { method: 'POST', body: form })).json()) as { subid: number };

    const { jobId, job } = await jobEnd(s, subid, 60_000);
    expect(job).toEqual({ status: 'failure', failure_reason: DISK_FULL_REASON });
    expect(DISK_FULL_REASON).toMatch(/^disk full \(ENOSPC\)/);
    const joblog = await (await fetch(`${s.origin}/joblog/${jobId}`)).text();
    expect(joblog).toMatch(/No space left on device/); // what solve-field itself said
    expect(joblog).toContain(`solve-field: ${DISK_FULL_REASON} (`);
    expect(joblog).not.toContain(dataDir); // the public log hides the data dir, as ever
    const log = lines.join("\n");
    expect(log).toContain('solve-field: running');
    expect(log).toContain(`solve-field: ${DISK_FULL_REASON} (`);
    expect(log).toContain(`job ${jobId}: ${DISK_FULL_REASON}`);
    expect(log).not.toMatch(/field width .* lies partly outside/); // not blamed on the index any more

    // The solver is gone, and so is its row in the process table (written again once space was back).
    expect(processesUnder(join(dataDir, 'jobs'), [process.pid])).toEqual([]);
    const db = new Database(join(dataDir, SQLITE_FILE), { readonly: true, fileMustExist: true });
    try {
      const deadline = Date.now() + 10_000;
      let left = -1;
      while (Date.now() < deadline && (left = (db.prepare('SELECT count(*) AS n FROM solver_processes').get() as { n: number }).n) > 0) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(left).toBe(0);
    } finally {
      db.close();
    }
    expect(lines.filter((l) => l.startsWith('process table: '))).toEqual([]);
    // What the failed run left was cleared; its log stays.
    expect(readdirSync(join(dataDir, 'jobs', String(jobId)))).toEqual(['job.log']);
  });

  it('says the same when our own writes hit ENOSPC before solve-field starts', async () => {
    const full = await tmpfs('256k');
    const inputDir = await mkdtemp(join(tmpdir(), 'disk-full-input-'));
    dirs.push(inputDir);
    const input = join(inputDir, 'image.png');
    copyFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'small.png'), input);
    try {
      for (;;) appendFileSync(join(full, 'filler'), Buffer.alloc(4096, 1));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    const lines: string[] = [];
    const backend = createSolveFieldBackend({ log: (l) => lines.push(l) });
    const jobDir = join(full, 'job');
    const outcome = await backend.solve({ jobDir, inputPath: input, kind: 'image', originalFilename: 'image.png', options: {}, signal: new AbortController().signal });
    expect(outcome).toMatchObject({ status: 'failure', failureReason: DISK_FULL_REASON });
    expect(lines.join('\n')).toMatch(/solve-field: disk full \(ENOSPC\).*ENOSPC: no space left on device/);
    expect(lines.join('\n')).not.toContain('solve-field: running');
  });
});
