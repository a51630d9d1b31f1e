/**
 * serve beyond one machine: three `serve` processes on loopback ports share one PostgreSQL and
 * one files root. 1 000 simulated solves and a few real solve-field ones go through them while
 * one node is killed with -9. Every input is solved, each uploaded exactly once (counted in the
 * database), the killed node's jobs finish on the others, and no solver process is left.
 * The same run on embedded SQLite: one node, killed and restarted on its data directory.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { Client, type SolveInput } from 'astrometry-net-client';
import { encodePng } from '../src/render.js';
import { Cluster, solveAcross, type ClusterNode } from './helpers/cluster.js';
import { FIXTURES } from '../../test/helpers/cli-run.js';
import { freshDatabase, type TestDatabase } from './helpers/postgres.js';
import { alive, processesUnder } from '../../test/helpers/processes.js';
import { until } from '../../test/helpers/until.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'nova-cluster-'));
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function database(): Promise<TestDatabase> {
  const db = await freshDatabase();
  cleanups.push(() => db.drop());
  return db;
}

async function started(c: Promise<Cluster>): Promise<Cluster> {
  const cluster = await c;
  cleanups.push(async () => {
    for (const n of cluster.nodes) n.serve.child.kill('SIGKILL');
  });
  return cluster;
}

/** A distinct small PNG per index: distinct bytes, so each upload is recognisable in the store. */
function inputs(n: number): { input: SolveInput; sha1: string }[] {
  return Array.from({ length: n }, (_, i) => {
    const data = new Uint8Array(16 * 16).map((_, p) => (p * 31 + i * 7 + (i >> 8)) & 0xff);
    data[0] = i & 0xff;
    data[1] = i >> 8;
    const bytes = encodePng({ width: 16, height: 16, channels: 1, data });
    return { input: { bytes, filename: `field-${i}.png` }, sha1: createHash('sha1').update(bytes).digest('hex') };
  });
}

const sha1sOf = (sources: string[]) => sources.map((s) => (JSON.parse(s) as { sha1: string }).sha1).sort();

describe('three serve nodes on one PostgreSQL', () => {
  it('solve 1 000 simulated submissions while one node is killed with -9', async () => {
    const db = await database();
    const dataDir = await tempDir();
    const cluster = await started(Cluster.start({ nodes: 3, dataDir, database: db.url, solver: 'simulated', concurrency: 8, leaseSeconds: 3 }));
    const work = inputs(1000);
    const run = solveAcross(cluster, work.map((w) => w.input), 48);

    await until('a third solved', () => db.query<{ c: number }>('SELECT COUNT(*)::int AS c FROM jobs WHERE ended_at IS NOT NULL'), (r) => (r[0]?.c ?? 0) >= 330, { timeoutMs: 120_000 });
    const victim = cluster.nodes[1] as ClusterNode;
    await cluster.kill(victim);
    // What it held when it died: claimed jobs its lease still covers.
    const orphaned = await db.query<{ id: number; user_image_id: number }>(
      'SELECT id::int, user_image_id::int FROM jobs WHERE node = $1 AND ended_at IS NULL',
      [victim.id],
    );
    expect(orphaned.length).toBeGreaterThan(0);

    const results = await run;
    expect(results.filter((r) => r?.calibration !== undefined)).toHaveLength(1000);
    // Uploads went to every node; the victim took none after it started draining.
    const perNode = new Map<string, number>();
    for (const r of results) perNode.set(r.uploadedTo, (perNode.get(r.uploadedTo) ?? 0) + 1);
    expect([...perNode.keys()].sort()).toEqual(cluster.nodes.map((n) => n.url).sort());

    // Each input exactly once in the store, and its submission is the one the client followed.
    const subs = await db.query<{ id: number; source: string }>('SELECT id::int, source FROM submissions ORDER BY id');
    expect(sha1sOf(subs.map((s) => s.source))).toEqual(work.map((w) => w.sha1).sort());
    expect(new Set(results.map((r) => r.subid)).size).toBe(1000);

    // The killed node's jobs were re-created under new ids and solved by the others.
    for (const o of orphaned) {
      const jobs = await db.query<{ id: number; status: string | null; node: string | null }>('SELECT id::int, status, node FROM jobs WHERE user_image_id = $1', [o.user_image_id]);
      expect(jobs).toHaveLength(1);
      expect(jobs[0]?.id).not.toBe(o.id);
      expect(jobs[0]?.status).toBe('S');
      const sub = await db.query<{ submission_id: number }>('SELECT submission_id::int FROM user_images WHERE id = $1', [o.user_image_id]);
      expect(results.find((r) => r.subid === sub[0]?.submission_id)?.jobId).toBe(jobs[0]?.id);
    }
    expect(await db.query('SELECT 1 FROM jobs WHERE ended_at IS NULL')).toEqual([]);

    await cluster.stop();
    expect(await db.query('SELECT id FROM nodes')).toEqual([]);
  }, 300_000);

  it('solve real fields with solve-field while the node running one is killed; no solver is left behind', async () => {
    const db = await database();
    const dataDir = await tempDir();
    const cluster = await started(Cluster.start({ nodes: 3, dataDir, database: db.url, solver: 'solve-field', concurrency: 1, leaseSeconds: 3 }));
    const files = ['small.png', 'orion.png', 'south.png', 'small.png'];
    const work = await Promise.all(files.map(async (f, i) => {
      const bytes = await readFile(join(FIXTURES, f));
      // The same field twice is two submissions: nova stores the image once, solves it twice.
      return { input: { bytes, filename: `${i}-${f}` } as SolveInput, sha1: createHash('sha1').update(bytes).digest('hex') };
    }));
    const run = solveAcross(cluster, work.map((w) => w.input), 4);

    // Kill a node while its solve-field runs.
    const jobsDir = join(dataDir, 'jobs');
    const pids = cluster.nodes.map((n) => n.pid);
    const busy = await until('a node running solve-field', () => processesUnder(jobsDir, pids), (p) => p.some((x) => pids.includes(x.ppid)), { timeoutMs: 60_000 });
    const solver = busy.find((x) => pids.includes(x.ppid));
    const victim = cluster.nodes.find((n) => n.pid === solver?.ppid) as ClusterNode;
    const group = processesUnder(jobsDir, pids).filter((p) => p.pgid === solver?.pgid);
    // A small field solves in about a second, sometimes before the lease runs out: stopped, the
    // orphaned solver cannot end on its own, so only a live node's reaper can end it.
    process.kill(-(solver?.pgid as number), 'SIGSTOP');
    await cluster.kill(victim);
    const orphaned = await db.query<{ id: number; user_image_id: number }>('SELECT id::int, user_image_id::int FROM jobs WHERE node = $1 AND ended_at IS NULL', [victim.id]);
    expect(orphaned.length).toBe(1);

    const results = await run;
    expect(results.map((r) => r.calibration.pixscale > 0)).toEqual([true, true, true, true]);
    const subs = await db.query<{ source: string }>('SELECT source FROM submissions');
    expect(sha1sOf(subs.map((s) => s.source))).toEqual(work.map((w) => w.sha1).sort());
    const rerun = await db.query<{ id: number; status: string }>('SELECT id::int, status FROM jobs WHERE user_image_id = $1', [orphaned[0]?.user_image_id]);
    expect(rerun.map((j) => j.status)).toEqual(['S']);
    expect(rerun[0]?.id).not.toBe(orphaned[0]?.id);
    // The dead node's solver group was killed by a live node, not left to run out its time.
    expect(group.filter((p) => alive(p.pid))).toEqual([]);
    const reapers = cluster.live().filter((n) => n.serve.stderr().includes(`reaped solver process group ${solver?.pgid} left by node ${victim.id}`));
    expect(reapers.length).toBeGreaterThan(0);

    await cluster.stop();
    expect(processesUnder(dataDir)).toEqual([]);
  }, 300_000);
});

describe('one client with the three URLs', () => {
  it('spreads the uploads over the nodes; after a node is killed with -9, its submissions are followed through the others', async () => {
    const db = await database();
    const dataDir = await tempDir();
    const cluster = await started(Cluster.start({ nodes: 3, dataDir, database: db.url, solver: 'simulated', concurrency: 2, leaseSeconds: 3 }));
    const client = new Client({
      apiUrl: cluster.nodes.map((n) => n.url),
      apiKey: cluster.apiKey,
      sharedStore: true,
      polling: { minIntervalMs: 100, maxIntervalMs: 500 },
      stallTimeoutMs: 10_000,
      timeoutMs: 5 * 60_000,
    });
    const work = inputs(150);
    const submissions = work.map((w) => client.submit(w.input));
    // Every upload lands first: an upload cut off by the kill could not be told apart from one
    // the node stored, and is never sent twice.
    await Promise.all(submissions.map((s) => s.handle.until((snap) => snap.context.subid !== null || snap.hasTag('settled'))));
    const perNode = new Map<string | null, number>();
    for (const s of submissions) perNode.set(s.handle.snapshot.context.server, (perNode.get(s.handle.snapshot.context.server) ?? 0) + 1);
    expect([...perNode.keys()].sort()).toEqual(cluster.nodes.map((n) => n.url).sort());

    const victim = cluster.nodes[0] as ClusterNode;
    await cluster.kill(victim);
    const results = await Promise.all(submissions.map((s) => s.untilDone().then((job) => job.untilDone()).then((job) => job.calibration())));
    expect(results.filter((c) => c.pixscale > 0)).toHaveLength(150);
    // The victim's own submissions were followed through the other nodes.
    expect(perNode.get(victim.url)).toBeGreaterThan(0);
    const subs = await db.query<{ source: string }>('SELECT source FROM submissions');
    expect(sha1sOf(subs.map((x) => x.source))).toEqual(work.map((w) => w.sha1).sort());
    await cluster.stop();
  }, 300_000);
});

describe('one serve node on embedded SQLite', () => {
  it('solves 1 000 simulated submissions across a kill -9 and a restart', async () => {
    const dataDir = await tempDir();
    const cluster = await started(Cluster.start({ nodes: 1, dataDir, solver: 'simulated', concurrency: 8 }));
    const work = inputs(1000);
    const run = solveAcross(cluster, work.map((w) => w.input), 48);
    const sqlite = join(dataDir, 'astrometry-net.sqlite');
    const count = (sql: string) => {
      const db = new Database(sqlite, { readonly: true, fileMustExist: true });
      try {
        return (db.prepare(sql).get() as { c: number }).c;
      } finally {
        db.close();
      }
    };
    await until('a third solved', () => count('SELECT COUNT(*) AS c FROM jobs WHERE ended_at IS NOT NULL'), (c) => c >= 330, { timeoutMs: 120_000 });
    await cluster.kill(cluster.nodes[0] as ClusterNode);
    expect(count('SELECT COUNT(*) AS c FROM jobs WHERE ended_at IS NULL')).toBeGreaterThan(0);
    await cluster.addNode();

    const results = await run;
    expect(results.filter((r) => r?.calibration !== undefined)).toHaveLength(1000);
    await cluster.stop();
    const db = new Database(sqlite, { readonly: true });
    try {
      const sources = db.prepare('SELECT source FROM submissions').all() as { source: string }[];
      expect(sha1sOf(sources.map((s) => s.source))).toEqual(work.map((w) => w.sha1).sort());
      expect(db.prepare("SELECT COUNT(*) AS c FROM jobs WHERE status = 'S'").get()).toEqual({ c: 1000 });
    } finally {
      db.close();
    }
  }, 300_000);
});
