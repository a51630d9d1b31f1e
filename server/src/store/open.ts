/**
 * Opens the store `serve` runs on: PostgreSQL when a `postgres://` URL is given (several nodes
 * share it and one files root), otherwise embedded SQLite in `<dataDir>/astrometry-net.sqlite`.
 * Migrates the schema, and imports a state.json left by an earlier version.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ensureWritableDir, writeError } from '../data-dir.js';
import type { ServerStore } from './server-store.js';
import type { Db } from './db.js';
import { importStateJson } from './legacy.js';
import { migrate } from './schema.js';
import { SqlStore } from './sql-store.js';

export const SQLITE_FILE = 'astrometry-net.sqlite';

export interface OpenStoreOptions {
  dataDir: string;
  /** `postgres://…` or `postgresql://…`; absent: embedded SQLite. */
  database?: string;
  /** This node's id: its scratch directory is named after it. */
  node: string;
  log: (line: string) => void;
}

export async function openStore(opts: OpenStoreOptions): Promise<ServerStore> {
  // A data dir serve cannot write to is said so in one line (DataDirError), before anything else.
  await ensureWritableDir(opts.dataDir);
  // Private whatever the data dir's own mode (an existing one may be 0755): what serve keeps is
  // its user's alone. chmod too, for folders an older version created open.
  for (const d of ['submissions', 'images', 'jobs']) {
    const dir = join(opts.dataDir, d);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o700);
    } catch (err) {
      throw writeError(resolve(dir), err);
    }
  }
  let db: Db;
  let tmpDir: string;
  if (opts.database !== undefined) {
    const { openPostgres } = await import('./postgres.js');
    db = await openPostgres(opts.database, opts.log);
    // Nodes share the files root: each keeps partial uploads in its own folder.
    tmpDir = join(opts.dataDir, 'tmp', opts.node);
  } else {
    const { openSqlite } = await import('./sqlite.js');
    db = await openSqlite(join(opts.dataDir, SQLITE_FILE));
    tmpDir = join(opts.dataDir, 'tmp');
  }
  try {
    // Temp files of an earlier process (partial uploads) are garbage now.
    await rm(tmpDir, { recursive: true, force: true });
    await mkdir(tmpDir, { recursive: true, mode: 0o700 });
    await migrate(db);
    const store = new SqlStore(db, opts.dataDir, tmpDir);
    const imported = await importStateJson(store, opts.dataDir);
    if (imported !== null) opts.log(`imported state.json (${imported} submission(s)) into the ${db.dialect} store`);
    return store;
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

export function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//.test(s);
}
