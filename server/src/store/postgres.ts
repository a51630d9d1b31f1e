/**
 * PostgreSQL through node-postgres: one pool per node; a transaction gets its own client.
 * BIGINT columns (ids, microsecond timestamps) are read as numbers: every value we store stays
 * far below 2^53.
 *
 * The database may restart under a running node (an upgrade, a failover, a crash). Nothing of
 * that may kill the node: every pg error, on an idle client, a client held by a transaction or
 * an in-flight query, is handled, and work that failed on a lost connection is retried with
 * backoff until the database answers again (for `retryForMs`, then a StoreError):
 *
 * - a transaction is retried whole. When the connection drops during COMMIT it may have
 *   committed or not: its transaction id (taken at BEGIN) is looked up with txid_status once
 *   the database is back, and a committed one is not run again;
 * - a single statement is retried as is: ours are reads, absolute UPDATEs, DELETEs and upserts
 *   (the same effect twice), or an INSERT of a row with its own id, whose retry finding the row
 *   already there (unique violation) means the first attempt committed. A counter bump
 *   (`next = next + 1 RETURNING`) retried after a lost commit skips an id, which is harmless.
 */
import type pg from 'pg';
import { loadDriver, StoreError, type Db, type Queryable, type SqlParam } from './db.js';

/** `?` placeholders to `$1, $2, ...` (our SQL never has a `?` inside a literal). */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function values(params: readonly SqlParam[] | undefined): unknown[] {
  return (params ?? []).map((p) => (p === undefined ? null : typeof p === 'boolean' ? (p ? 1 : 0) : typeof p === 'bigint' ? p.toString() : p));
}

/** SQLSTATEs and socket errors of a connection that is gone or not yet back; anything else is the query's own failure. */
const CONNECTION_CODES = new Set([
  '57P01', // admin_shutdown: terminating connection due to administrator command
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: the database system is starting up / shutting down / in recovery
  '57P05', // idle_session_timeout
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
]);
const CONNECTION_MESSAGES =
  /Connection terminated|connection error and is not queryable|Client was closed and is not queryable|timeout exceeded when trying to connect|terminating connection|the database system is (starting up|shutting down|in recovery)|server closed the connection unexpectedly/i;

/** True when `err` says the connection failed (so the work may be retried), not the statement. */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || CONNECTION_CODES.has(code))) return true;
  // A refused connect to a name with several addresses (localhost: ::1 and 127.0.0.1).
  if (err instanceof AggregateError && err.errors.some(isConnectionError)) return true;
  if (err instanceof StoreError) return false;
  return err instanceof Error && CONNECTION_MESSAGES.test(err.message);
}

const UNIQUE_VIOLATION = '23505';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function over(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    all: async <T>(sql: string, params?: readonly SqlParam[]) => (await client.query(numbered(sql), values(params))).rows as T[],
    get: async <T>(sql: string, params?: readonly SqlParam[]) => (await client.query(numbered(sql), values(params))).rows[0] as T | undefined,
    run: async (sql: string, params?: readonly SqlParam[]) => (await client.query(numbered(sql), values(params))).rowCount ?? 0,
  };
}

export interface PostgresOptions {
  /** How long work failing on a lost connection is retried before a StoreError. Default 60 s. */
  retryForMs?: number;
}

export async function openPostgres(url: string, log: (line: string) => void, options: PostgresOptions = {}): Promise<Db> {
  const retryForMs = options.retryForMs ?? 60_000;
  const mod = await loadDriver<{ default: typeof pg }>('pg');
  const { Pool, types } = mod.default;
  const parseInt8 = (v: string) => Number(v);
  const pool = new Pool({
    connectionString: url,
    max: 10,
    // A connect to a database that does not answer fails (and is retried) instead of hanging.
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? parseInt8 : types.getTypeParser(oid, format))) as typeof types.getTypeParser },
  });
  // An idle client losing its connection must not crash the node; the next query reconnects.
  pool.on('error', (err) => log(`postgres: idle connection failed: ${err.message}`));
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new StoreError(`cannot connect to PostgreSQL: ${(err as Error).message}`, { cause: err });
  }

  let closed = false;
  /** When the current outage began (the first failure since the last success), or null. */
  let outageSince: number | null = null;

  /** Runs `attempt` until it succeeds, retrying connection failures with backoff for up to retryForMs. */
  async function retrying<T>(attempt: (retry: number) => Promise<T>): Promise<T> {
    const start = Date.now();
    let delay = 50;
    for (let retry = 0; ; retry++) {
      try {
        const out = await attempt(retry);
        if (outageSince !== null) {
          log(`postgres: connection back after ${Date.now() - outageSince} ms`);
          outageSince = null;
        }
        return out;
      } catch (err) {
        if (!isConnectionError(err)) throw err;
        const why = (err as Error).message || String((err as { code?: unknown }).code);
        if (closed) throw new StoreError(`the store is closed: ${why}`, { cause: err });
        if (outageSince === null) {
          outageSince = Date.now();
          log(`postgres: connection lost (${why}); retrying for up to ${Math.round(retryForMs / 1000)} s`);
        }
        if (Date.now() - start + delay > retryForMs) {
          throw new StoreError(`the database is unavailable (${why}); gave up after ${Math.round((Date.now() - start) / 1000)} s`, { cause: err });
        }
        await sleep(delay / 2 + Math.random() * (delay / 2));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  /** One statement on the pool, retried; an INSERT whose retry finds its row committed the first time. */
  function statement<R>(sql: string, params: readonly SqlParam[] | undefined, pick: (r: pg.QueryResult) => R, insertedRows?: R): Promise<R> {
    const text = numbered(sql);
    const args = values(params);
    const plainInsert = insertedRows !== undefined && /^\s*INSERT\b/i.test(sql) && !/\bON\s+CONFLICT\b/i.test(sql);
    return retrying(async (retry) => {
      try {
        return pick(await pool.query(text, args));
      } catch (err) {
        if (retry > 0 && plainInsert && (err as { code?: unknown }).code === UNIQUE_VIOLATION) return insertedRows;
        throw err;
      }
    });
  }

  /** What became of a transaction whose COMMIT lost its connection; asked once the database answers. */
  async function committed(xid: string): Promise<boolean> {
    const start = Date.now();
    for (;;) {
      const row = await retrying(async () => (await pool.query('SELECT txid_status($1::bigint) AS s', [xid])).rows[0] as { s: string | null } | undefined);
      // 'in progress': the old backend has not noticed yet that its client is gone.
      if (row?.s !== 'in progress' || Date.now() - start > retryForMs) return row?.s === 'committed';
      await sleep(100);
    }
  }

  async function transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return retrying(async () => {
      const client = await pool.connect();
      // A held client has no listener of the pool's: an error arriving between our queries
      // (the server terminating the session) would otherwise be an unhandled 'error' event.
      let broken: Error | undefined;
      const onError = (err: Error) => {
        broken ??= err;
      };
      client.on('error', onError);
      let released = false;
      // A client whose connection failed is dropped, not returned to the pool.
      const release = () => {
        if (released) return;
        released = true;
        client.removeListener('error', onError);
        client.release(broken);
      };
      let xid: string | undefined;
      let result: { out: T } | undefined;
      try {
        // One round trip: the transaction id tells, after a lost COMMIT, whether it committed.
        const begun = (await client.query('BEGIN; SELECT txid_current()::text AS xid')) as unknown as pg.QueryResult[];
        xid = (begun[1]?.rows[0] as { xid: string } | undefined)?.xid;
        result = { out: await fn(over(client)) };
        await client.query('COMMIT');
        return result.out;
      } catch (err) {
        const lost = broken ?? (isConnectionError(err) ? (err as Error) : undefined);
        if (lost) {
          broken = lost;
          release();
          if (result && xid !== undefined && (await committed(xid))) return result.out;
          throw lost;
        }
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        release();
      }
    });
  }

  return {
    dialect: 'postgres',
    all: <T>(sql: string, params?: readonly SqlParam[]) => statement(sql, params, (r) => r.rows as T[]),
    get: <T>(sql: string, params?: readonly SqlParam[]) => statement(sql, params, (r) => r.rows[0] as T | undefined),
    run: (sql: string, params?: readonly SqlParam[]) => statement(sql, params, (r) => r.rowCount ?? 0, 1),
    tx: transaction,
    exec: async (sql) => {
      await retrying(() => pool.query(sql));
    },
    close: async () => {
      closed = true;
      await pool.end();
    },
  };
}
