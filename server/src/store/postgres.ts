/**
 * PostgreSQL through node-postgres: one pool per node; a transaction gets its own client.
 * BIGINT columns (ids, microsecond timestamps) are read as numbers: every value we store stays
 * far below 2^53.
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

function over(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    all: async <T>(sql: string, params?: readonly SqlParam[]) => (await client.query(numbered(sql), values(params))).rows as T[],
    get: async <T>(sql: string, params?: readonly SqlParam[]) => (await client.query(numbered(sql), values(params))).rows[0] as T | undefined,
    run: async (sql: string, params?: readonly SqlParam[]) => (await client.query(numbered(sql), values(params))).rowCount ?? 0,
  };
}

export async function openPostgres(url: string, log: (line: string) => void): Promise<Db> {
  const mod = await loadDriver<{ default: typeof pg }>('pg');
  const { Pool, types } = mod.default;
  const parseInt8 = (v: string) => Number(v);
  const pool = new Pool({
    connectionString: url,
    max: 10,
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
  const q = over(pool);
  return {
    dialect: 'postgres',
    ...q,
    tx: async <T>(fn: (q: Queryable) => Promise<T>): Promise<T> => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const out = await fn(over(client));
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    exec: async (sql) => {
      await pool.query(sql);
    },
    close: () => pool.end(),
  };
}
