/**
 * Periodic clean-up for long-running `serve` instances: submissions older than `maxAgeMs`
 * whose work is over are deleted with their user images, jobs and directories; images no
 * longer referenced go too. Work in progress is never touched.
 */
import { rm } from 'node:fs/promises';
import type { Sessions } from './sessions.js';
import type { ServerStore } from './store/server-store.js';

export async function sweep(store: ServerStore, sessions: Sessions, maxAgeMs: number, nowMs = Date.now()): Promise<number> {
  await sessions.purgeStale();
  // The rows go first: a crash between the two steps leaves orphan directories, never dangling rows.
  const gone = await store.sweep((nowMs - maxAgeMs) * 1000);
  await Promise.all([
    ...gone.submissions.map((id) => rm(store.submissionDir(id), { recursive: true, force: true })),
    ...gone.jobs.map((id) => rm(store.jobDir(id), { recursive: true, force: true })),
    ...gone.images.map((id) => rm(store.imageDir(id), { recursive: true, force: true })),
  ]);
  return gone.submissions.length;
}

export function sweepInterval(maxAgeMs: number): number {
  return Math.max(1000, Math.min(Math.floor(maxAgeMs / 2), 3_600_000));
}
