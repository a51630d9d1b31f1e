/**
 * Periodic clean-up for long-running `serve` instances: submissions older than `maxAgeMs`
 * whose work is over are deleted with their user images, jobs and directories; images no
 * longer referenced go too. Work in progress is never touched.
 */
import { rm } from 'node:fs/promises';
import type { Sessions } from './sessions.js';
import type { Store } from './store.js';

export async function sweep(store: Store, sessions: Sessions, maxAgeMs: number, nowMs = Date.now()): Promise<number> {
  const st = store.state;
  const cutoffMicros = (nowMs - maxAgeMs) * 1000;
  const doomed = new Set<number>();
  for (const sub of st.submissions) {
    if (sub.submittedAt >= cutoffMicros || sub.processingFinished === null) continue;
    const uis = store.userImagesOf(sub.id);
    const busy = uis.some((u) => {
      const jobs = store.jobsOf(u.id);
      return jobs.length === 0 || jobs.some((j) => j.endedAt === null);
    });
    if (!busy) doomed.add(sub.id);
  }
  const purged = sessions.purgeStale();
  if (doomed.size === 0) {
    if (purged > 0) await store.save();
    return 0;
  }
  const uiIds = new Set(st.userImages.filter((u) => doomed.has(u.submissionId)).map((u) => u.id));
  const jobIds = st.jobs.filter((j) => uiIds.has(j.userImageId)).map((j) => j.id);
  st.submissions = st.submissions.filter((s) => !doomed.has(s.id));
  st.userImages = st.userImages.filter((u) => !uiIds.has(u.id));
  st.jobs = st.jobs.filter((j) => !uiIds.has(j.userImageId));
  const used = new Set(st.userImages.map((u) => u.imageId));
  const images = st.images.filter((i) => !used.has(i.id)).map((i) => i.id);
  st.images = st.images.filter((i) => used.has(i.id));
  // The state goes first: a crash between the two steps leaves orphan directories, never dangling rows.
  await store.save();
  await Promise.all([
    ...[...doomed].map((id) => rm(store.submissionDir(id), { recursive: true, force: true })),
    ...jobIds.map((id) => rm(store.jobDir(id), { recursive: true, force: true })),
    ...images.map((id) => rm(store.imageDir(id), { recursive: true, force: true })),
  ]);
  return doomed.size;
}

export function sweepInterval(maxAgeMs: number): number {
  return Math.max(1000, Math.min(Math.floor(maxAgeMs / 2), 3_600_000));
}
