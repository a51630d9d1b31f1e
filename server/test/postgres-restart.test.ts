/**
 * "Nothing falls over": three `serve` nodes share one PostgreSQL while a client batch runs over
 * them, and PostgreSQL is restarted under them twice: `pg_ctl restart -m fast`, then an
 * immediate stop (a crash: recovery at the next start) held down 5 s, longer than the nodes'
 * 3 s leases. Every node is still alive at the end, at least 95 % of the batch is solved, every
 * failure is a typed client error, and no request was answered with an HTML 500 page.
 *
 * The PostgreSQL restarted is a throwaway server of the installed PostgreSQL (initdb and pg_ctl,
 * the binaries scripts/install-postgres.sh installs) on a free port, not the shared test cluster:
 * the other multi-node suites run in parallel on that one and must not see it go away. A machine
 * where it cannot be started or restarted fails this test, saying why; nothing is skipped.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AstrometryNetError, Client, ERROR_CODES, type SolveInput, type SolveManyOutcome } from 'astrometry-net-client';
import { encodePng } from '../src/render.js';
import { openPostgres } from '../src/store/postgres.js';
import { Cluster } from './helpers/cluster.js';
import { until } from '../../test/helpers/until.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The newest PostgreSQL server binaries: Debian's /usr/lib/postgresql/N/bin, or pg_config's. */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))) : [];
  versions.sort((a, b) => Number(a) - Number(b));
  if (versions.length > 0) return join(root, versions[versions.length - 1] as string, 'bin');
  try {
    const bin = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(bin, 'pg_ctl'))) return bin;
  } catch {
    // none on PATH either
  }
  throw new Error('this test restarts a PostgreSQL server of its own (initdb, pg_ctl), but no PostgreSQL server binaries were found: run scripts/install-postgres.sh');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A PostgreSQL server of this test's own, in a temporary directory, on a free loopback port. */
class PrivatePostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
    /** root cannot run PostgreSQL: it runs as the postgres user. */
    private readonly prefix: string[],
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const bin = postgresBin();
    const dir = await mkdtemp(join(tmpdir(), 'nova-pg-server-'));
    const asRoot = process.getuid?.() === 0;
    if (asRoot) execFileSync('chown', ['postgres:postgres', dir]);
    const p = new PrivatePostgres(dir, await freePort(), bin, asRoot ? ['runuser', '-u', 'postgres', '--'] : []);
    await p.run('initdb', '-D', p.data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync');
    await p.start();
    return p;
  }

  get data(): string {
    return join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  urlOf(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  start(): Promise<void> {
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=200`;
    return this.run('pg_ctl', '-D', this.data, '-l', join(this.dir, 'log'), '-o', opts, '-w', '-t', '60', 'start');
  }

  stop(mode: 'fast' | 'immediate'): Promise<void> {
    return this.run('pg_ctl', '-D', this.data, '-m', mode, '-w', '-t', '60', 'stop');
  }

  /** `pg_ctl restart -m MODE`, or with `holdMs` a stop, that long down, and a start. */
  async restart(mode: 'fast' | 'immediate', holdMs = 0): Promise<void> {
    if (holdMs === 0) return this.run('pg_ctl', '-D', this.data, '-m', mode, '-w', '-t', '60', 'restart');
    try {
      await this.stop(mode);
      await sleep(holdMs);
    } finally {
      await this.start();
    }
  }

  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }

  private run(tool: string, ...args: string[]): Promise<void> {
    const argv = [...this.prefix, join(this.bin, tool), ...args];
    const what = argv.join(' ');
    return new Promise((resolve, reject) => {
      const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', (err) => reject(new Error(`cannot run or restart the test's PostgreSQL (${what}: ${err.message})`)));
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`cannot run or restart the test's PostgreSQL: ${what} exited ${code}: ${out.trim()}`))));
    });
  }
}

let server: PrivatePostgres;
beforeAll(async () => {
  server = await PrivatePostgres.start();
}, 120_000);
afterAll(async () => {
  await server?.destroy();
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** One connection at a time, never held idle: nothing of the test's own breaks when the server restarts. */
async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function freshDatabase(): Promise<string> {
  const name = `restart_${Math.random().toString(36).slice(2, 10)}`;
  await query(server.url, `CREATE DATABASE ${name}`);
  return server.urlOf(name);
}

const answers = (): Promise<boolean> => query(server.url, 'SELECT 1').then(() => true, () => false);

/** Restarts the server and measures how long it did not answer (ms). */
async function outage(mode: 'fast' | 'immediate', holdMs = 0): Promise<number> {
  let down: number | null = null;
  let up: number | null = null;
  let done = false;
  const probe = (async () => {
    for (;;) {
      const ok = await answers();
      const t = Date.now();
      if (!ok) down ??= t;
      else if (down !== null) {
        up = t;
        return;
      } else if (done) return; // never caught it down
      await sleep(25);
    }
  })();
  const started = Date.now();
  try {
    await server.restart(mode, holdMs);
  } finally {
    done = true;
  }
  await until('PostgreSQL answering after the restart', answers, (ok) => ok, { timeoutMs: 60_000, intervalMs: 50 });
  await probe;
  return (up ?? Date.now()) - (down ?? started);
}

function inputs(n: number): SolveInput[] {
  return Array.from({ length: n }, (_, i) => {
    const data = new Uint8Array(16 * 16).map((_, p) => (p * 13 + i * 5 + (i >> 8)) & 0xff);
    data[0] = i & 0xff;
    data[1] = i >> 8;
    return { bytes: encodePng({ width: 16, height: 16, channels: 1, data }), filename: `restart-${i}.png` };
  });
}

describe('three serve nodes while their PostgreSQL restarts', () => {
  it('survive a fast and an immediate restart mid-batch; the batch is solved', async () => {
    const url = await freshDatabase();
    const dataDir = await mkdtemp(join(tmpdir(), 'nova-pg-restart-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const cluster = await Cluster.start({ nodes: 3, dataDir, database: url, solver: 'simulated', concurrency: 4, leaseSeconds: 3 });
    cleanups.push(async () => {
      for (const n of cluster.nodes) n.serve.child.kill('SIGKILL');
    });

    const TOTAL = 300;
    const work = inputs(TOTAL + 1);
    const client = new Client({
      apiUrl: cluster.nodes.map((n) => n.url),
      apiKey: cluster.apiKey,
      sharedStore: true,
      polling: { minIntervalMs: 100, maxIntervalMs: 500 },
      stallTimeoutMs: 20_000,
      timeoutMs: 3 * 60_000,
    });
    const outcomes: SolveManyOutcome[] = [];
    const batch = (async () => {
      for await (const o of client.solveMany(work.slice(0, TOTAL), { concurrency: 24 })) outcomes.push(o);
    })();
    const settled = () => outcomes.length;

    const dead = () => cluster.nodes.filter((n) => n.serve.child.exitCode !== null || n.serve.child.signalCode !== null);
    let atFast = -1;
    let fastMs = -1;
    let atImmediate = -1;
    let immediateMs = -1;
    try {
      // Each restart while much of the batch is still to come.
      await until('a sixth of the batch settled', settled, (k) => k >= TOTAL / 6, { timeoutMs: 60_000 });
      atFast = settled();
      fastMs = await outage('fast');
      await until('half of the batch settled', settled, (k) => k >= TOTAL / 2 || dead().length > 0, { timeoutMs: 90_000 });
      atImmediate = settled();
      immediateMs = await outage('immediate', 5000);
      await until('the batch settled', settled, (k) => k === TOTAL || dead().length === 3, { timeoutMs: 150_000, intervalMs: 200 });
    } finally {
      for (const n of dead()) console.log(`node ${n.id} died (${n.serve.child.exitCode ?? n.serve.child.signalCode}):\n${n.serve.stderr().slice(-3000)}`);
    }
    await batch;

    const solved = outcomes.filter((o) => o.error === null && o.calibration !== null);
    const failures = outcomes.filter((o) => o.error !== null);
    const byCode: Record<string, number> = {};
    for (const f of failures) byCode[f.error?.code ?? 'untyped'] = (byCode[f.error?.code ?? 'untyped'] ?? 0) + 1;
    const alive = cluster.nodes.filter((n) => !dead().includes(n));
    const count = (re: RegExp) => cluster.nodes.reduce((k, n) => k + (n.serve.stderr().match(re)?.length ?? 0), 0);
    const html500 = count(/ 500 \d+ms$/gm);
    const retried = count(/postgres: connection lost/g);
    const handedBack = count(/stopped renewing its lease|handed back after a lost lease/g);
    const bgFailed = count(/background task failed|ingest crashed|solver error/g);
    if (process.env['PG_RESTART_DEBUG']) for (const n of cluster.nodes) console.log(n.serve.stderr().split('\n').filter((l) => !/^(GET|POST) |created \(file\)$/.test(l)).join('\n'));
    console.log(
      `postgres restart: nodes alive ${alive.length}/3, solved ${solved.length}/${TOTAL}, failures ${JSON.stringify(byCode)}, ` +
        `fast restart at ${atFast} settled (${fastMs} ms down), immediate at ${atImmediate} settled (${immediateMs} ms down), ` +
        `HTML 500s ${html500}, outages logged by nodes ${retried}, claims handed back ${handedBack}, failed background tasks ${bgFailed}`,
    );

    expect(atImmediate, 'the immediate restart came before the batch ended').toBeLessThan(TOTAL);
    expect(alive.length).toBe(3);
    expect(outcomes).toHaveLength(TOTAL);
    expect(solved.length).toBeGreaterThanOrEqual(Math.ceil(TOTAL * 0.95));
    for (const f of failures) {
      expect(f.error).toBeInstanceOf(AstrometryNetError);
      expect(ERROR_CODES).toContain(f.error?.code);
    }
    expect(html500).toBe(0);
    // Each upload stored once.
    expect(await query(url, 'SELECT COUNT(*)::int AS c FROM submissions')).toEqual([{ c: TOTAL }]);
    // The nodes keep working after the outages: a new solve goes through each of them.
    for (const n of cluster.nodes) {
      const one = new Client({ apiUrl: n.url, apiKey: cluster.apiKey, polling: { minIntervalMs: 100, maxIntervalMs: 500 } });
      const job = await (await one.submit(work[TOTAL] as SolveInput).untilDone()).untilDone();
      expect((await job.calibration()).pixscale).toBeGreaterThan(0);
    }
    await cluster.stop();
    expect(await query(url, 'SELECT id FROM nodes')).toEqual([]);
  }, 240_000);

  it('runs a transaction again whole, and a statement again, when the server terminates their connection', async () => {
    const url = new URL(await freshDatabase());
    url.searchParams.set('application_name', 'restart-test-store');
    const lines: string[] = [];
    const store = await openPostgres(url.href, (l) => lines.push(l));
    cleanups.push(() => store.close());
    await store.exec('CREATE TABLE t (id BIGINT PRIMARY KEY)');
    const terminate = (pid: number) => query(server.url, 'SELECT pg_terminate_backend($1)', [pid]);

    // Terminated between two statements of a transaction, while its client is held and idle:
    // the error arrives as an event on that client (what killed the nodes), then the whole
    // transaction runs again.
    let attempts = 0;
    const seen = await store.tx(async (q) => {
      attempts++;
      await q.run('INSERT INTO t (id) VALUES (?)', [attempts]);
      if (attempts === 1) {
        await terminate(Number((await q.get<{ pid: number }>('SELECT pg_backend_pid() AS pid'))?.pid));
        await sleep(200);
      }
      return q.all<{ id: number }>('SELECT id FROM t');
    });
    expect(attempts).toBe(2);
    expect(seen).toEqual([{ id: 2 }]);

    // A statement in flight, then every idle connection of the pool.
    const slow = store.get<{ one: number }>('SELECT 1 AS one, pg_sleep(1)');
    await until('the statement running', () => query(server.url, "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT 1 AS one, pg_sleep%'"), (r) => r.length === 1);
    await query(server.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'restart-test-store'");
    expect(await slow).toMatchObject({ one: 1 });
    expect(await store.run('INSERT INTO t (id) VALUES (?)', [3])).toBe(1);
    expect(await store.all('SELECT id FROM t ORDER BY id')).toEqual([{ id: 2 }, { id: 3 }]);
    expect(lines.filter((l) => l.startsWith('postgres: connection lost')).length).toBeGreaterThanOrEqual(2);
  });

  it('gives up with a typed StoreError after its retry time, and works again once the database is back', async () => {
    const store = await openPostgres(await freshDatabase(), () => undefined, { retryForMs: 1500 });
    cleanups.push(() => store.close());
    const started = Date.now();
    let failure: unknown;
    try {
      await server.stop('fast');
      failure = await store.get('SELECT 1 AS one').then(
        () => null,
        (err: unknown) => err,
      );
    } finally {
      await server.start();
    }
    expect(failure).toMatchObject({ name: 'StoreError', code: 'STORE_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await store.get('SELECT 1 AS one')).toEqual({ one: 1 });
  });
});
