#!/usr/bin/env node
// Solves per second of `astrometry-net serve` with 1, 2 and 3 nodes on one PostgreSQL (and one
// node on embedded SQLite), simulated solver, the client uploading round-robin. Prints a table.
// Needs a built tree (`npm run build`) and PostgreSQL: `bash scripts/install-postgres.sh`
// starts one and prints the URL; set ASTROMETRY_TEST_DATABASE_URL to use another.
//   node bench/nodes.mjs [SOLVES=400] [CONCURRENCY_PER_NODE=4]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Client } from '../dist/src/index.js';
import { encodePng } from '../server/dist/render.js';

const CLI = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const PG_URL = process.env.ASTROMETRY_TEST_DATABASE_URL ?? 'postgres://astrometry_test:astrometry_test@127.0.0.1:5432/astrometry_test';
const SOLVES = Number(process.argv[2] ?? 400);
const PER_NODE = Number(process.argv[3] ?? 4);
const KEY = 'benchnodesbenchn';

async function adminQuery(sql) {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

function serve(args) {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const url = new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, url, exited: new Promise((r) => child.on('exit', r)) };
}

function inputs(n, salt) {
  return Array.from({ length: n }, (_, i) => {
    const data = new Uint8Array(16 * 16).map((_, p) => (p * 31 + i * 7 + salt) & 0xff);
    data[0] = i & 0xff;
    data[1] = i >> 8;
    data[2] = salt;
    return { bytes: encodePng({ width: 16, height: 16, channels: 1, data }), filename: `b-${i}.png` };
  });
}

async function run(nodes, database) {
  const dataDir = await mkdtemp(join(tmpdir(), 'anc-bench-nodes-'));
  let dbName;
  let dbUrl;
  if (database) {
    dbName = `anc_bench_${randomBytes(5).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${dbName}`);
    const u = new URL(PG_URL);
    u.pathname = `/${dbName}`;
    dbUrl = u.href;
  }
  const args = ['--port', '0', '--solver', 'simulated', '--api-key', KEY, '--data-dir', dataDir, '--concurrency', String(PER_NODE), ...(dbUrl ? ['--database', dbUrl] : [])];
  const procs = [];
  try {
    for (let i = 0; i < nodes; i++) procs.push(serve(args));
    const urls = await Promise.all(procs.map((p) => p.url));
    const clients = urls.map((apiUrl) => new Client({ apiUrl, apiKey: KEY, polling: { minIntervalMs: 50, maxIntervalMs: 250 } }));
    const work = inputs(SOLVES, nodes * 10 + (database ? 1 : 2));
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 16 * nodes }, async () => {
        while (next < work.length) {
          const i = next++;
          await clients[i % clients.length].solve(work[i]);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { store: database ? 'postgres' : 'sqlite', nodes, solves: SOLVES, seconds, perSecond: SOLVES / seconds };
  } finally {
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    if (dbName) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await rm(dataDir, { recursive: true, force: true });
  }
}

const rows = [await run(1, false), await run(1, true), await run(2, true), await run(3, true)];
console.log(`\nserve nodes: ${SOLVES} simulated solves (ingest 50 ms, queue 50 ms, solve 100 ms), ${PER_NODE} solver slots per node, ${16} uploads in flight per node`);
console.log('store     nodes  solves  seconds  solves/s');
for (const r of rows) {
  console.log(`${r.store.padEnd(8)}  ${String(r.nodes).padStart(5)}  ${String(r.solves).padStart(6)}  ${r.seconds.toFixed(1).padStart(7)}  ${r.perSecond.toFixed(1).padStart(8)}`);
}
