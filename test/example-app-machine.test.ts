/**
 * examples/node/app-machine.mjs, run as a user runs it: an app machine that invokes
 * `createSolveLogic(client)` (picking → solving → showing → RETRY → solving) against the in-repo server,
 * and the same app saved mid-solve by one process and finished by another, uploading once.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer, type RunningServer } from 'astrometry-net-server';

const run = promisify(execFile);
const script = new URL('../examples/node/app-machine.mjs', import.meta.url).pathname;
const image = new URL('../assets/sample.png', import.meta.url).pathname;
const truth = JSON.parse(readFileSync(new URL('../assets/sample.truth.json', import.meta.url), 'utf8')) as { ra: number; dec: number };

function radec(line: string): { ra: number; dec: number } {
  const [, ra, dec] = /RA (\S+)\s+Dec (\S+)/.exec(line) ?? [];
  return { ra: Number(ra), dec: Number(dec) };
}

test('the app machine solves with the real solver, shows the result, and solves again on RETRY, one upload each', async () => {
  const { stdout } = await run(process.execPath, [script], { timeout: 120_000 });
  const lines = stdout.trim().split('\n');
  expect(lines.map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual([
    'picking',
    'solving attempt 1',
    'showing attempt 1:',
    'solving attempt 2',
    'showing attempt 2:',
    'requests login upload',
  ]);
  for (const line of [lines[2], lines[4]] as string[]) {
    const { ra, dec } = radec(line);
    expect(Math.abs(ra - truth.ra) * Math.cos((truth.dec * Math.PI) / 180)).toBeLessThan(0.01);
    expect(Math.abs(dec - truth.dec)).toBeLessThan(0.01);
  }
  // Two solves, two different submissions: the retry is a new solve, on the same login.
  expect(/subid (\d+)/.exec(lines[2] as string)?.[1]).not.toBe(/subid (\d+)/.exec(lines[4] as string)?.[1]);
  expect(lines[5]).toMatch(/^requests {2}login upload( submission)+( job)+ calibration upload( submission)+( job)+ calibration$/);
}, 120_000);

describe('an app saved mid-solve and restored in a new process', () => {
  let server: RunningServer;
  let dir: string;
  beforeAll(async () => {
    // Slow enough that the first process is surely mid-solve when it saves and exits.
    server = await startServer({ port: 0, solver: 'simulated', simulated: { ingestMs: 300, queueMs: 300, solveMs: 1500 } });
    dir = mkdtempSync(join(tmpdir(), 'app-machine-'));
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('continues without a second upload, with a new client', async () => {
    const saved = join(dir, 'app.json');
    const common = ['--api', server.url, '--key', server.apiKeys[0] as string];
    const first = await run(process.execPath, [script, ...common, '--image', image, '--save', saved], { timeout: 60_000 });
    expect(first.stdout).toMatch(/^saved {5}app "solving", solve "(submissionPending|jobRunning)\.\w+", subid \d+\n$/);
    const subid = /subid (\d+)/.exec(first.stdout)?.[1];
    const uploadsBefore = server.requests.filter((r) => r.endpoint === 'upload').length;
    expect(uploadsBefore).toBe(1);
    // What was saved: the app's own context and its child's, with the child's requests in flight.
    type Saved = { value: unknown; children: Record<string, { src: string; snapshot: { context: { subid: number }; children: Record<string, { snapshot: { context: { subid: number } } }> } }> };
    const snapshot = JSON.parse(readFileSync(saved, 'utf8')) as Saved;
    expect(snapshot.value).toBe('solving');
    expect(snapshot.children.solve?.src).toBe('solve');
    // The child invokes the solve machine: its snapshot (with the subid) is inside the child's.
    expect(String(snapshot.children.solve?.snapshot.children.solve?.snapshot.context.subid)).toBe(subid);
    expect(JSON.stringify(snapshot)).not.toContain(server.apiKeys[0]);

    const countBefore = server.requests.length;
    const second = await run(process.execPath, [script, ...common, '--restore', saved], { timeout: 60_000 });
    const lines = second.stdout.trim().split('\n');
    expect(lines[0]).toBe('restored  app "solving"');
    expect(lines[1]).toMatch(new RegExp(`^showing {3}attempt 1: RA \\S+ +Dec \\S+ +subid ${subid} +job \\d+$`));
    const after = server.requests.slice(countBefore).map((r) => r.endpoint);
    expect(after).not.toContain('upload');
    expect(after).not.toContain('login');
    expect(after.join(' ')).toMatch(/^(submission )*(job )+calibration$/);
    expect(server.requests.filter((r) => r.endpoint === 'upload')).toHaveLength(1);
  }, 90_000);
});
