/**
 * The store under `serve`, on both engines: global ids, work claimed exactly once by competing
 * nodes, leases that hand a dead node's work back (under new job ids, fenced against the old
 * node), session keys stored hashed, and the one-time import of an old state.json.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../src/index.js';
import { openStore } from '../src/store/open.js';
import type { ServerStore, SubmissionRow } from '../src/store/server-store.js';
import { freshDatabase, type TestDatabase } from './helpers/postgres.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'nova-store-'));
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

let pgDb: TestDatabase | undefined;
async function postgresUrl(): Promise<string> {
  if (!pgDb) {
    pgDb = await freshDatabase();
    const db = pgDb;
    cleanups.unshift(() => db.drop());
  }
  return pgDb.url;
}

type Engine = 'sqlite' | 'postgres';

/** Two handles on one store, as two nodes have. SQLite is single-node: both share one handle. */
async function twoNodes(engine: Engine): Promise<[ServerStore, ServerStore]> {
  const dataDir = await tempDir();
  if (engine === 'sqlite') {
    const s = await openStore({ dataDir, node: 'a', log: () => undefined });
    cleanups.push(() => s.close());
    return [s, s];
  }
  const database = await postgresUrl();
  const a = await openStore({ dataDir, database, node: 'a', log: () => undefined });
  const b = await openStore({ dataDir, database, node: 'b', log: () => undefined });
  cleanups.push(() => a.close(), () => b.close());
  return [a, b];
}

async function submit(store: ServerStore, userId: number): Promise<SubmissionRow> {
  const row: SubmissionRow = {
    id: await store.nextId('submission'),
    userId,
    submittedAt: Date.now() * 1000,
    processingStarted: null,
    processingFinished: null,
    errorMessage: null,
    source: { kind: 'file', sha1: 'x' },
    originalFilename: 'f.png',
    options: {},
    publiclyVisible: 'y',
    allowCommercialUse: 'd',
    allowModifications: 'd',
  };
  await store.insertSubmission(row);
  return row;
}

/** A submission ingested into a user image that waits for a job. */
async function waitingImage(store: ServerStore, userId: number, imageId: number): Promise<number> {
  const sub = await submit(store, userId);
  const claimed = await store.claimSubmission('ingester', Date.now() * 1000, Date.now() + 60_000);
  expect(claimed?.id).toBe(sub.id);
  const ok = await store.finishIngest(sub.id, 'ingester', claimed?.processingStarted as number, { originalFilename: 'f.png', errorMessage: null, userImage: { imageId } }, Date.now() * 1000);
  expect(ok).toBe(true);
  return sub.id;
}

describe.each<Engine>(['sqlite', 'postgres'])('store on %s', (engine) => {
  it('hands out ids that never repeat, whichever node asks', async () => {
    const [a, b] = await twoNodes(engine);
    const ids = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).nextId('job')));
    expect(new Set(ids).size).toBe(60);
    expect(Math.min(...ids)).toBeGreaterThanOrEqual(4001);
  });

  it('gives each waiting image to exactly one of two competing nodes', async () => {
    const [a, b] = await twoNodes(engine);
    const user = await a.ensureUser('k'.repeat(64));
    const imageId = await a.nextId('image');
    await a.insertImage({ id: imageId, sha1: 's', kind: 'image', format: 'png', width: 10, height: 10, createdAt: 0 });
    for (let i = 0; i < 12; i++) await waitingImage(a, user.id, imageId);
    // Both nodes see the same rows.
    expect(await b.countSubmissions()).toBe(12);
    const taken: { node: string; ui: number }[] = [];
    const drain = async (s: ServerStore, node: string) => {
      for (;;) {
        const c = await s.claimJob(node, Date.now() * 1000, Date.now() + 60_000);
        if (!c) return;
        taken.push({ node, ui: c.userImage.id });
      }
    };
    await Promise.all([drain(a, 'a'), drain(b, 'b')]);
    expect(taken).toHaveLength(12);
    expect(new Set(taken.map((t) => t.ui)).size).toBe(12);
  });

  it("re-creates a job under a new id once its node's lease ran out; the old node can no longer finish it", async () => {
    const [a, b] = await twoNodes(engine);
    const user = await a.ensureUser('q'.repeat(64));
    const imageId = await a.nextId('image');
    await a.insertImage({ id: imageId, sha1: 't', kind: 'image', format: 'png', width: 10, height: 10, createdAt: 0 });
    await waitingImage(a, user.id, imageId);
    const t0 = Date.now();
    const first = await a.claimJob('lease-a', t0 * 1000, t0 + 1000);
    expect(first).toBeDefined();
    expect(await a.startJob(first!.job.id, 'lease-a', t0 * 1000)).toBe(true);
    // Within the lease nothing is released, and renewing keeps it so.
    expect((await b.releaseClaims({ nowMs: t0 + 500 })).jobs).toEqual([]);
    await a.renewLeases('lease-a', t0 + 5000, { jobs: [first!.job.id], submissions: [] });
    expect((await b.releaseClaims({ nowMs: t0 + 2000 })).jobs).toEqual([]);
    // Past it, the job is gone (404 for pollers) and its image waits for a new one.
    expect((await b.releaseClaims({ nowMs: t0 + 6000 })).jobs).toEqual([first!.job.id]);
    expect(await b.job(first!.job.id)).toBeUndefined();
    const second = await b.claimJob('lease-b', Date.now() * 1000, Date.now() + 60_000);
    expect(second?.userImage.id).toBe(first!.userImage.id);
    expect(second!.job.id).toBeGreaterThan(first!.job.id);
    const outcome = { status: 'S' as const, calibration: null, files: {}, endedAt: Date.now() * 1000, tags: ['M 42'], machineTags: [], objectsInField: [] };
    expect(await a.finishJob(first!.job.id, 'lease-a', outcome)).toBe(false);
    expect(await a.startJob(second!.job.id, 'lease-a', 1)).toBe(false);
    expect(await b.finishJob(second!.job.id, 'lease-b', outcome)).toBe(true);
    expect((await a.job(second!.job.id))?.status).toBe('S');
    expect((await a.jobsByTagExact('m 42')).jobIds).toEqual([second!.job.id]);
    expect(await a.jobsByTagContains('42')).toEqual([second!.job.id]);
  });

  it('finds sessions by key hash, slides only live ones, and purges long-expired ones', async () => {
    const [a] = await twoNodes(engine);
    const now = Date.now();
    await a.createSession({ keyHash: 'live'.padEnd(64, '0'), userId: 1, human: true, expiresAt: now + 1000 });
    await a.createSession({ keyHash: 'dead'.padEnd(64, '0'), userId: 1, human: true, expiresAt: now - 1000 });
    await a.touchSession('live'.padEnd(64, '0'), now, now + 5000);
    await a.touchSession('dead'.padEnd(64, '0'), now, now + 5000);
    expect((await a.findSession('live'.padEnd(64, '0')))?.expiresAt).toBe(now + 5000);
    expect((await a.findSession('dead'.padEnd(64, '0')))?.expiresAt).toBe(now - 1000);
    expect(await a.purgeSessions(now - 500)).toBe(1);
    expect(await a.findSession('dead'.padEnd(64, '0'))).toBeUndefined();
    expect(await a.findSession('live'.padEnd(64, '0'))).toBeDefined();
  });

  it('tells onChange after every write a status read sees, and never after a claim that found nothing', async () => {
    const [a] = await twoNodes(engine);
    let changes = 0;
    a.onChange = () => changes++;
    const counted = async <T>(write: Promise<T>): Promise<number> => {
      const before = changes;
      await write;
      return changes - before;
    };
    const user = await a.ensureUser('c'.repeat(64));
    const imageId = await a.nextId('image');
    await a.insertImage({ id: imageId, sha1: 'u', kind: 'image', format: 'png', width: 10, height: 10, createdAt: 0 });
    expect(await counted(a.claimSubmission('idle', 1, Date.now() + 60_000))).toBe(0);
    expect(await counted(submit(a, user.id))).toBe(1);
    const t = Date.now();
    const claimed = await a.claimSubmission('n', t * 1000, t + 60_000);
    expect(changes).toBe(2);
    const result = { originalFilename: 'f.png', errorMessage: null, userImage: { imageId } };
    expect(await counted(a.finishIngest(claimed!.id, 'n', claimed!.processingStarted as number, result, t * 1000))).toBe(1);
    // A stale finish (the claim is over) writes nothing and wakes nobody.
    expect(await counted(a.finishIngest(claimed!.id, 'n', claimed!.processingStarted as number, result, t * 1000))).toBe(0);
    const job = await a.claimJob('n', t * 1000, t + 60_000);
    expect(changes).toBe(4);
    expect(await counted(a.claimJob('n', t * 1000, t + 60_000))).toBe(0);
    expect(await counted(a.startJob(job!.job.id, 'n', t * 1000))).toBe(1);
    const outcome = { status: 'F' as const, calibration: null, files: {}, endedAt: t * 1000, tags: [], machineTags: [], objectsInField: [] };
    expect(await counted(a.finishJob(job!.job.id, 'n', outcome))).toBe(1);
    expect(await counted(a.finishJob(job!.job.id, 'n', outcome))).toBe(0);
    // A restart that hands work back is a change too (the job id vanishes).
    await waitingImage(a, user.id, imageId);
    const lost = await a.claimJob('gone', t * 1000, t + 1);
    expect(await counted(a.releaseClaims({ nowMs: t + 2 }))).toBe(1);
    expect(await a.job(lost!.job.id)).toBeUndefined();
    expect(await counted(a.releaseClaims({ nowMs: t + 2 }))).toBe(0);
  });

  it("keeps a failed job's failure reason (served as failure_reason); a solved job has none", async () => {
    const [a, b] = await twoNodes(engine);
    const user = await a.ensureUser('r'.repeat(64));
    const imageId = await a.nextId('image');
    await a.insertImage({ id: imageId, sha1: 'v', kind: 'image', format: 'png', width: 10, height: 10, createdAt: 0 });
    await waitingImage(a, user.id, imageId);
    await waitingImage(a, user.id, imageId);
    const t = Date.now();
    const failed = await a.claimJob('n', t * 1000, t + 60_000);
    const solved = await a.claimJob('n', t * 1000, t + 60_000);
    const base = { calibration: null, files: {}, endedAt: t * 1000, tags: [], machineTags: [], objectsInField: [] };
    const why = 'no index covers fields 2.0-3.0 arcmin wide';
    expect(await a.finishJob(failed!.job.id, 'n', { ...base, status: 'F', failureReason: why })).toBe(true);
    expect(await a.finishJob(solved!.job.id, 'n', { ...base, status: 'S', failureReason: 'ignored on success' })).toBe(true);
    expect((await b.job(failed!.job.id))?.failureReason).toBe(why);
    expect(await b.job(solved!.job.id)).not.toHaveProperty('failureReason');
  });

  it('migrates once: reopening keeps the rows', async () => {
    const dataDir = await tempDir();
    const database = engine === 'postgres' ? await postgresUrl() : undefined;
    const s1 = await openStore({ dataDir, database, node: 'x', log: () => undefined });
    const user = await s1.ensureUser('m'.repeat(64));
    await s1.close();
    const s2 = await openStore({ dataDir, database, node: 'y', log: () => undefined });
    cleanups.push(() => s2.close());
    expect(await s2.ensureUser('m'.repeat(64))).toEqual(user);
  });
});

describe('serve on embedded SQLite', () => {
  it('stores neither API keys nor session keys in plain text', async () => {
    const dataDir = await tempDir();
    const key = 'zyxwvutsrqponmlk';
    const s = await startServer({ port: 0, apiKeys: [key], solver: 'simulated', dataDir });
    const body = new URLSearchParams({ 'request-json': JSON.stringify({ apikey: key }) });
    const { session } = (await (await fetch(s.url + 'login', { method: 'POST', body })).json()) as { session: string };
    expect(session).toMatch(/^[a-z0-9]{32}$/);
    await s.close();
    const files = (await readdir(dataDir)).filter((f) => f.startsWith('astrometry-net.sqlite'));
    expect(files.length).toBeGreaterThan(0);
    const bytes = Buffer.concat(await Promise.all(files.map((f) => readFile(join(dataDir, f)))));
    expect(bytes.includes(session)).toBe(false);
    expect(bytes.includes(key)).toBe(false);
  });

  it('imports an old state.json once: same ids, same results, old sessions still valid', async () => {
    const dataDir = await tempDir();
    const key = 'abcdefghijklmnop';
    const keyHash = (await import('node:crypto')).createHash('sha256').update(key).digest('hex');
    const session = 'a'.repeat(32);
    const cal = { id: 5001, ra: 10, dec: 20, radius: 1, pixscale: 2, orientation: 90, parity: 1 };
    const state = {
      version: 1,
      next: { user: 2, submission: 1003, userImage: 2002, image: 3002, job: 4002, calibration: 5002 },
      users: [{ id: 1, keyHash, email: 'old@example.org' }],
      sessions: [{ key: session, userId: 1, human: true, expiresAt: Date.now() + 3_600_000 }],
      submissions: [
        { id: 1001, userId: 1, submittedAt: 1e15, processingStarted: 1e15, processingFinished: 1e15 + 1, errorMessage: null, source: { kind: 'file', sha1: 'x' }, originalFilename: 'a.png', options: {}, publiclyVisible: 'y', allowCommercialUse: 'd', allowModifications: 'd' },
      ],
      userImages: [{ id: 2001, submissionId: 1001, imageId: 3001, userId: 1, originalFilename: 'a.png', tags: ['Orion'], machineTags: ['Orion'], objectsInField: ['Orion'] }],
      images: [{ id: 3001, sha1: 'x', kind: 'image', format: 'png', width: 10, height: 10, createdAt: 1e15 }],
      jobs: [{ id: 4001, userImageId: 2001, queuedAt: 1e15, startedAt: 1e15, endedAt: 1e15 + 2, status: 'S', calibration: cal, files: {} }],
    };
    await writeFile(join(dataDir, 'state.json'), JSON.stringify(state));
    const s = await startServer({ port: 0, apiKeys: [key], solver: 'simulated', dataDir });
    try {
      const sub = (await (await fetch(s.url + 'submissions/1001')).json()) as { jobs: number[]; job_calibrations: number[][] };
      expect(sub.jobs).toEqual([4001]);
      expect(sub.job_calibrations).toEqual([[4001, 5001]]);
      const mine = new URLSearchParams({ 'request-json': JSON.stringify({ session }) });
      expect(await (await fetch(s.url + 'myjobs', { method: 'POST', body: mine })).text()).toBe('{"jobs": [4001], "status": "success"}');
      const login = new URLSearchParams({ 'request-json': JSON.stringify({ apikey: key }) });
      expect(((await (await fetch(s.url + 'login', { method: 'POST', body: login })).json()) as { message: string }).message).toBe(
        'authenticated user: old@example.org',
      );
      expect(await (await fetch(s.url + 'jobs_by_tag?query=orion&exact=1')).text()).toBe('{"job_ids": [4001]}');
    } finally {
      await s.close();
    }
    expect((await readdir(dataDir)).filter((f) => f.startsWith('state.json'))).toEqual(['state.json.imported']);
  });
});
