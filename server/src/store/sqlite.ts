/**
 * Embedded SQLite through better-sqlite3 (version 12: 13 needs Node 22). The driver is
 * synchronous and has one connection, so statements and transactions are queued: an await
 * inside a transaction must never let another request's statement slip into it.
 */
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { loadDriver, type Db, type Queryable, type SqlParam } from './db.js';
import { writeError } from '../data-dir.js';

type Database = BetterSqlite3.Database;

function bind(params: readonly SqlParam[] | undefined): unknown[] {
  return (params ?? []).map((p) => (p === undefined ? null : typeof p === 'boolean' ? (p ? 1 : 0) : p));
}

export async function openSqlite(file: string): Promise<Db> {
  const mod = await loadDriver<{ default: typeof BetterSqlite3 }>('better-sqlite3');
  // The database holds key hashes, file names and calibrations: its user's alone, whatever the
  // folder's mode. SQLite gives the -wal and -shm files the database file's own mode.
  let db: Database;
  try {
    closeSync(openSync(file, 'a', 0o600));
    for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    db = new mod.default(file);
  } catch (err) {
    // One line for serve to print, not a stack trace or SQLite's "unable to open database file".
    throw writeError(`the database ${file}`, err);
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const cache = new Map<string, BetterSqlite3.Statement>();
  const prep = (sql: string) => {
    let st = cache.get(sql);
    if (!st) {
      st = db.prepare(sql);
      cache.set(sql, st);
    }
    return st;
  };
  const direct: Queryable = {
    all: async <T>(sql: string, params?: readonly SqlParam[]) => prep(sql).all(...bind(params)) as T[],
    get: async <T>(sql: string, params?: readonly SqlParam[]) => prep(sql).get(...bind(params)) as T | undefined,
    run: async (sql: string, params?: readonly SqlParam[]) => prep(sql).run(...bind(params)).changes,
  };
  // One connection: every statement and transaction takes its turn in one queue.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T> | T): Promise<T> => {
    const p = queue.then(fn);
    queue = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  };
  return {
    dialect: 'sqlite',
    all: (sql, params) => serial(() => direct.all(sql, params)),
    get: (sql, params) => serial(() => direct.get(sql, params)),
    run: (sql, params) => serial(() => direct.run(sql, params)),
    tx: <T>(fn: (q: Queryable) => Promise<T>): Promise<T> =>
      serial(async () => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const out = await fn(direct);
          db.exec('COMMIT');
          return out;
        } catch (err) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw err;
        }
      }),
    exec: (sql) => serial(() => void db.exec(sql)),
    close: () => serial(() => void db.close()),
  };
}
