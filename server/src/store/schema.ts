/**
 * Schema migrations, run at start in one transaction. SQL kept to what SQLite and PostgreSQL
 * both accept (BIGINT ids, TEXT holding JSON, partial indexes). On PostgreSQL an advisory lock
 * makes nodes that start together migrate one after the other.
 */
import type { Db } from './db.js';

const MIGRATIONS: readonly string[] = [
  `
CREATE TABLE counters (name TEXT PRIMARY KEY, next BIGINT NOT NULL);
INSERT INTO counters (name, next) VALUES ('user', 1), ('submission', 1001), ('userImage', 2001), ('image', 3001), ('job', 4001), ('calibration', 5001);
CREATE TABLE users (id BIGINT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, email TEXT NOT NULL);
CREATE TABLE sessions (key_hash TEXT PRIMARY KEY, user_id BIGINT, human INTEGER NOT NULL, expires_at BIGINT NOT NULL);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE TABLE submissions (
  id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, submitted_at BIGINT NOT NULL,
  processing_started BIGINT, processing_finished BIGINT, error_message TEXT,
  source TEXT NOT NULL, original_filename TEXT NOT NULL, options TEXT NOT NULL,
  publicly_visible TEXT NOT NULL, allow_commercial_use TEXT NOT NULL, allow_modifications TEXT NOT NULL,
  node TEXT, lease_until BIGINT);
CREATE INDEX submissions_unfinished ON submissions (id) WHERE processing_finished IS NULL;
CREATE INDEX submissions_submitted_at ON submissions (submitted_at);
CREATE TABLE images (id BIGINT PRIMARY KEY, sha1 TEXT NOT NULL, kind TEXT NOT NULL, format TEXT NOT NULL,
  width INTEGER NOT NULL, height INTEGER NOT NULL, created_at BIGINT NOT NULL);
CREATE INDEX images_sha1 ON images (sha1, kind);
CREATE TABLE user_images (id BIGINT PRIMARY KEY, submission_id BIGINT NOT NULL, image_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL, original_filename TEXT NOT NULL, tags TEXT NOT NULL, machine_tags TEXT NOT NULL,
  objects_in_field TEXT NOT NULL, has_job INTEGER NOT NULL DEFAULT 0);
CREATE INDEX user_images_submission ON user_images (submission_id);
CREATE INDEX user_images_user ON user_images (user_id);
CREATE INDEX user_images_image ON user_images (image_id);
CREATE INDEX user_images_waiting ON user_images (id) WHERE has_job = 0;
CREATE TABLE tags (user_image_id BIGINT NOT NULL, position INTEGER NOT NULL, text TEXT NOT NULL, lower_text TEXT NOT NULL,
  PRIMARY KEY (user_image_id, position));
CREATE INDEX tags_lower_text ON tags (lower_text);
CREATE TABLE jobs (id BIGINT PRIMARY KEY, user_image_id BIGINT NOT NULL, queued_at BIGINT, started_at BIGINT,
  ended_at BIGINT, status TEXT, calibration TEXT, files TEXT NOT NULL, node TEXT, lease_until BIGINT);
CREATE INDEX jobs_user_image ON jobs (user_image_id);
CREATE INDEX jobs_unfinished ON jobs (lease_until) WHERE ended_at IS NULL;
CREATE TABLE nodes (id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, heartbeat_at BIGINT NOT NULL);
CREATE INDEX nodes_host ON nodes (host);
CREATE TABLE solver_processes (host TEXT NOT NULL, pid INTEGER NOT NULL, node TEXT NOT NULL, start_ticks TEXT NOT NULL,
  job_id BIGINT, PRIMARY KEY (host, pid));
`,
  // Why a failed job could not solve (served as failure_reason).
  `
ALTER TABLE jobs ADD COLUMN failure_reason TEXT;
`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the schema up to date; returns the version found before (0 for a new database). */
export async function migrate(db: Db): Promise<number> {
  return db.tx(async (q) => {
    if (db.dialect === 'postgres') await q.run('SELECT pg_advisory_xact_lock(4242001)');
    await q.run('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)');
    const row = await q.get<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
    const from = Number(row?.v ?? 0);
    for (let v = from; v < MIGRATIONS.length; v++) {
      for (const stmt of splitStatements(MIGRATIONS[v] as string)) await q.run(stmt);
      await q.run('INSERT INTO schema_migrations (version) VALUES (?)', [v + 1]);
    }
    return from;
  });
}

function splitStatements(sql: string): string[] {
  return sql
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
