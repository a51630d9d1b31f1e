/**
 * The PostgreSQL the multi-node tests share: scripts/install-postgres.sh starts it and exports
 * its URL (npm test does both). Each suite works in a database of its own, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const POSTGRES_URL =
  process.env['ASTROMETRY_TEST_DATABASE_URL'] ?? 'postgres://astrometry_test:astrometry_test@127.0.0.1:5432/astrometry_test';

export interface TestDatabase {
  url: string;
  /** Runs one query in that database (for counting rows behind the servers' backs). */
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

export async function freshDatabase(): Promise<TestDatabase> {
  const name = `astrometry_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.href, max: 2 });
  // Other suites restart a database; an idle connection that drops must not end this one.
  pool.on('error', () => undefined);
  return {
    url: url.href,
    query: async <T>(sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows as T[],
    drop: async () => {
      await pool.end();
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
