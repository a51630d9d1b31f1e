/**
 * A client with several servers: solves spread over them, each server with its own login; a
 * server that refuses connections gets no uploads and every input is still uploaded once; a
 * solve stays with the server that has its submission; reads move between servers that share
 * one database.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Client } from '../src/client/client.js';
import { ServerPool } from '../src/tasks/server-pool.js';
import { startServer, type RunningServer } from 'astrometry-net-server';
import { failoverTransport } from '../src/transport/failover.js';
import type { Transport } from '../src/transport/transport.js';
import { buildCli, CLI, runCli } from './helpers/cli-run.js';

const IMAGE = new URL('./fixtures/small.png', import.meta.url).pathname;
const KEY = 'multimultimultim';
const FAST = { minIntervalMs: 20, maxIntervalMs: 100 };
let nodes: RunningServer[] = [];

/** A loopback port nothing listens on: connections to it are refused. */
async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}/api/`;
}

const uploadsAt = (s: RunningServer) => s.requests.filter((r) => r.endpoint === 'upload').length;
const loginsAt = (s: RunningServer) => s.requests.filter((r) => r.endpoint === 'login').length;

beforeAll(async () => {
  nodes = await Promise.all(
    [0, 1, 2].map(() => startServer({ port: 0, apiKeys: [KEY], solver: 'simulated', simulated: { ingestMs: 20, queueMs: 10, solveMs: 40 } })),
  );
});
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
});

describe('several servers', () => {
  test('a batch is spread over every server, each input uploaded once, each server logged in to once', async () => {
    const before = nodes.map(uploadsAt);
    const logins = nodes.map(loginsAt);
    const client = new Client({ apiUrl: nodes.map((n) => n.url), apiKey: KEY, polling: FAST });
    let solved = 0;
    for await (const o of client.solveMany(Array.from({ length: 30 }, () => IMAGE), { concurrency: 6 })) if (!o.error) solved++;
    expect(solved).toBe(30);
    const uploads = nodes.map((n, i) => uploadsAt(n) - (before[i] as number));
    expect(uploads.reduce((a, b) => a + b, 0)).toBe(30);
    for (const u of uploads) expect(u).toBeGreaterThan(0);
    expect(nodes.map((n, i) => loginsAt(n) - (logins[i] as number))).toEqual([1, 1, 1]);
    expect(client.session.servers.every((s) => s.inFlight === 0)).toBe(true);
  });

  test('a server that refuses connections gets nothing; every input is solved elsewhere, uploaded once', async () => {
    const dead = await deadUrl();
    const before = nodes.map(uploadsAt);
    const client = new Client({ apiUrl: [dead, nodes[0]!.url, nodes[1]!.url], apiKey: KEY, polling: FAST });
    const outcomes = [];
    for await (const o of client.solveMany(Array.from({ length: 12 }, () => IMAGE), { concurrency: 4 })) outcomes.push(o);
    expect(outcomes.filter((o) => o.error)).toEqual([]);
    const uploads = [0, 1].map((i) => uploadsAt(nodes[i]!) - (before[i] as number));
    expect(uploads[0]! + uploads[1]!).toBe(12);
    expect(client.session.servers[0]).toMatchObject({ apiUrl: dead, up: false, inFlight: 0 });
  });

  test('a solve stays with the server that has its submission, resumed in another client too', async () => {
    const client = new Client({ apiUrl: nodes.map((n) => n.url), apiKey: KEY, polling: FAST });
    const submission = client.submit(IMAGE);
    await submission.untilDone();
    const saved = JSON.parse(JSON.stringify(submission.persist())) as { snapshot: { context: { server: string } } };
    const home = nodes.find((n) => n.url === saved.snapshot.context.server) as RunningServer;
    expect(home).toBeDefined();
    const others = nodes.filter((n) => n !== home);
    const seen = others.map((n) => n.requests.length);
    const homeBefore = home.requests.length;
    // Listed in another order: the solve still goes home.
    const resumed = await new Client({ apiUrl: [...others.map((n) => n.url), home.url], apiKey: KEY, polling: FAST }).resume(saved as never);
    expect(resumed.calibration.pixscale).toBeGreaterThan(0);
    expect(others.map((n) => n.requests.length)).toEqual(seen);
    expect(home.requests.length).toBeGreaterThan(homeBefore);
  });

  test('the command line spreads a batch over the servers given by repeated --api-url', async () => {
    await buildCli();
    const before = nodes.map(uploadsAt);
    const out = mkdtempSync(join(tmpdir(), 'anc-multi-'));
    // Six different files: the same path given twice is one input.
    const inputs = Array.from({ length: 6 }, (_, i) => {
      const path = join(out, `field-${i}.png`);
      copyFileSync(IMAGE, path);
      return path;
    });
    // Asynchronously: the servers answering it live in this process.
    const child = spawn(
      process.execPath,
      [CLI, 'solve', ...nodes.flatMap((n) => ['--api-url', n.url]), '--api-key', KEY, '-j', '3', '--quiet', '--out', join(out, 'solved'), ...inputs],
      { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);
    const uploads = nodes.map((n, i) => uploadsAt(n) - (before[i] as number));
    expect(uploads.reduce((a, b) => a + b, 0)).toBe(6);
    expect(uploads.filter((u) => u > 0).length).toBeGreaterThan(1);
  });

  test('a rerun asks the server its journal names for the job, not the first --api-url', async () => {
    await buildCli();
    const [first, second] = nodes as [RunningServer, RunningServer];
    const out = mkdtempSync(join(tmpdir(), 'anc-multi-journal-'));
    const input = join(out, 'field.png');
    copyFileSync(IMAGE, input);
    const solved = join(out, 'solved');
    const solve = (servers: RunningServer[]) =>
      runCli(['solve', ...servers.flatMap((n) => ['--api-url', n.url]), '--api-key', KEY, '--quiet', '--no-cache', '--out', solved, input], { timeoutMs: 60_000 });
    // A journal belongs to a set of servers, whatever their order. Listed second first, the one
    // input goes to it (the primary while nothing is in flight), and the journal records it.
    const ran = await solve([second, first]);
    expect(ran.code, ran.stderr).toBe(0);
    const dir = join(solved, '.astrometry-net-journal');
    const file = join(dir, readdirSync(dir).find((n) => n.endsWith('.json')) as string);
    const entry = JSON.parse(readFileSync(file, 'utf8')) as { server: string; jobId: number };
    expect(entry.server).toBe(second.url);
    // As if that run had stopped while the job was running.
    writeFileSync(file, JSON.stringify({ ...entry, state: 'jobRunning', stage: 'jobRunning', done: false, outcome: null, calibration: null, files: {} }));
    const jobReads = (s: RunningServer) => s.requests.filter((r) => r.endpoint === 'job' || r.path.includes(`/jobs/${entry.jobId}`)).length;
    const before = [uploadsAt(first), uploadsAt(second), jobReads(first), jobReads(second)];
    // The same servers, the first now listed first: the primary, which knows nothing of that job.
    const rerun = await solve([first, second]);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(uploadsAt(first) - (before[0] as number)).toBe(0);
    expect(uploadsAt(second) - (before[1] as number)).toBe(0);
    expect(jobReads(first) - (before[2] as number)).toBe(0);
    expect(jobReads(second) - (before[3] as number)).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ done: true, outcome: 'success', server: second.url, jobId: entry.jobId });
  });

  test('an empty list of servers is refused before any request', () => {
    expect(() => new Client({ apiUrl: [], apiKey: KEY })).toThrow(expect.objectContaining({ option: 'apiUrl' }));
  });
});

describe('servers sharing one database', () => {
  const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  function fake(): Transport & { urls: string[] } {
    const urls: string[] = [];
    return {
      urls,
      async request(req) {
        urls.push(`${req.method} ${req.url}`);
        if (req.url.startsWith('http://a.test/')) throw refused();
        return { status: 200, headers: { 'content-type': 'text/plain' }, body: new TextEncoder().encode('{"status": "solving"}') };
      },
    };
  }

  test('a read whose server is gone goes to the next one; a POST never moves', async () => {
    const pool = new ServerPool(['http://a.test/api/', 'http://b.test/api/'], KEY, true);
    const inner = fake();
    const transport = failoverTransport(inner, pool);
    const answer = await transport.request({ method: 'GET', url: 'http://a.test/api/jobs/7?wait=5' });
    expect(answer.status).toBe(200);
    expect(inner.urls).toEqual(['GET http://a.test/api/jobs/7?wait=5', 'GET http://b.test/api/jobs/7?wait=5']);
    // Files hang off the site root, and move the same way.
    await transport.request({ method: 'GET', url: 'http://a.test/wcs_file/7' });
    expect(inner.urls.at(-1)).toBe('GET http://b.test/wcs_file/7');
    await expect(transport.request({ method: 'POST', url: 'http://a.test/api/upload' })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(inner.urls.filter((u) => u.startsWith('POST'))).toEqual(['POST http://a.test/api/upload']);
  });
});
