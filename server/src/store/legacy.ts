/**
 * One-time import of the state.json that earlier versions kept under --data-dir: every row
 * keeps its id, live session keys are stored hashed from now on, and the file is renamed so it
 * is never imported twice. As at any restart, unfinished work is handed back: unfinished
 * submissions are ingested again and unfinished jobs come back under new ids.
 */
import { createHash } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageRow, JobRow, SubmissionRow, UserImageRow, UserRow } from './server-store.js';
import type { SqlStore } from './sql-store.js';

interface LegacyState {
  version: 1;
  next: Record<'user' | 'submission' | 'userImage' | 'image' | 'job' | 'calibration', number>;
  users: UserRow[];
  sessions: { key: string; userId: number | null; human: boolean; expiresAt: number }[];
  submissions: SubmissionRow[];
  userImages: UserImageRow[];
  images: ImageRow[];
  jobs: JobRow[];
}

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/** Returns the number of submissions imported, or null when there is no state.json. */
export async function importStateJson(store: SqlStore, dataDir: string): Promise<number | null> {
  const path = join(dataDir, 'state.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const st = JSON.parse(text) as LegacyState;
  if (st.version !== 1) throw new Error(`state.json: unsupported version ${String(st.version)}`);
  await store.transaction(async (q) => {
    for (const u of st.users ?? []) await store.importUser(q, u);
    for (const s of st.sessions ?? []) {
      await q.run('INSERT INTO sessions (key_hash, user_id, human, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (key_hash) DO NOTHING', [
        sha256(s.key),
        s.userId,
        s.human,
        s.expiresAt,
      ]);
    }
    for (const s of st.submissions ?? []) {
      const unfinished = s.processingFinished === null;
      await store.insertSubmissionWith(q, { ...s, processingStarted: unfinished ? null : s.processingStarted });
    }
    for (const i of st.images ?? []) await store.insertImageWith(q, i);
    const finished = (st.jobs ?? []).filter((j) => j.endedAt !== null);
    const withJob = new Set(finished.map((j) => j.userImageId));
    for (const u of st.userImages ?? []) await store.insertUserImage(q, u, withJob.has(u.id));
    for (const j of finished) {
      await q.run(
        'INSERT INTO jobs (id, user_image_id, queued_at, started_at, ended_at, status, calibration, files, failure_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [
          j.id,
          j.userImageId,
          j.queuedAt,
          j.startedAt,
          j.endedAt,
          j.status,
          j.calibration ? JSON.stringify(j.calibration) : null,
          JSON.stringify(j.files),
          j.failureReason ?? null,
        ],
      );
    }
    for (const [name, next] of Object.entries(st.next ?? {})) {
      await q.run('UPDATE counters SET next = ? WHERE name = ? AND next < ?', [next, name, next]);
    }
  });
  await rename(path, `${path}.imported`);
  return (st.submissions ?? []).length;
}
