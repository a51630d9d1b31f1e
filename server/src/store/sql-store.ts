/**
 * ServerStore over SQL, the same statements on SQLite and PostgreSQL. Work is claimed with
 * `FOR UPDATE SKIP LOCKED` on PostgreSQL (so several nodes never take the same row and never
 * wait on each other); SQLite has one writer, so a plain transaction is enough there.
 *
 * When a node's lease runs out, its in-flight work is handed back as nova's worker restart
 * does: the submission is ingested again, and the unfinished job row is deleted so the user
 * image gets a new job under a new id (a client polling the old id sees 404 and re-reads the
 * submission, which every nova client must handle anyway).
 */
import type { Calibration } from 'astrometry-net-client';
import type { ParsedUploadOptions } from '../solver-backend.js';
import {
  DataDirs,
  type ClaimedJob,
  type IdKind,
  type ImageRow,
  type IngestResultRow,
  type JobOutcomeRow,
  type JobRow,
  type NodeRow,
  type ProcessRow,
  type ServerStore,
  type SessionRow,
  type SubmissionRow,
  type SubmissionSource,
  type SweepResult,
  type UserImageRow,
  type UserRow,
} from './server-store.js';
import type { Db, Queryable, SqlParam } from './db.js';

interface SubmissionRec {
  id: number;
  user_id: number;
  submitted_at: number;
  processing_started: number | null;
  processing_finished: number | null;
  error_message: string | null;
  source: string;
  original_filename: string;
  options: string;
  publicly_visible: string;
  allow_commercial_use: string;
  allow_modifications: string;
}

interface UserImageRec {
  id: number;
  submission_id: number;
  image_id: number;
  user_id: number;
  original_filename: string;
  tags: string;
  machine_tags: string;
  objects_in_field: string;
}

interface JobRec {
  id: number;
  user_image_id: number;
  queued_at: number | null;
  started_at: number | null;
  ended_at: number | null;
  status: string | null;
  calibration: string | null;
  files: string;
  failure_reason: string | null;
}

interface ImageRec {
  id: number;
  sha1: string;
  kind: string;
  format: string;
  width: number;
  height: number;
  created_at: number;
}

const n = (v: number | string | null): number | null => (v === null ? null : Number(v));

function submissionOf(r: SubmissionRec): SubmissionRow {
  return {
    id: Number(r.id),
    userId: Number(r.user_id),
    submittedAt: Number(r.submitted_at),
    processingStarted: n(r.processing_started),
    processingFinished: n(r.processing_finished),
    errorMessage: r.error_message,
    source: JSON.parse(r.source) as SubmissionSource,
    originalFilename: r.original_filename,
    options: JSON.parse(r.options) as ParsedUploadOptions,
    publiclyVisible: r.publicly_visible,
    allowCommercialUse: r.allow_commercial_use,
    allowModifications: r.allow_modifications,
  };
}

function userImageOf(r: UserImageRec): UserImageRow {
  return {
    id: Number(r.id),
    submissionId: Number(r.submission_id),
    imageId: Number(r.image_id),
    userId: Number(r.user_id),
    originalFilename: r.original_filename,
    tags: JSON.parse(r.tags) as string[],
    machineTags: JSON.parse(r.machine_tags) as string[],
    objectsInField: JSON.parse(r.objects_in_field) as string[],
  };
}

function jobOf(r: JobRec): JobRow {
  return {
    id: Number(r.id),
    userImageId: Number(r.user_image_id),
    queuedAt: n(r.queued_at),
    startedAt: n(r.started_at),
    endedAt: n(r.ended_at),
    status: r.status === 'S' || r.status === 'F' ? r.status : null,
    calibration: r.calibration === null ? null : (JSON.parse(r.calibration) as JobRow['calibration']),
    files: JSON.parse(r.files) as Record<string, string>,
    ...(r.failure_reason !== null && r.failure_reason !== undefined ? { failureReason: r.failure_reason } : {}),
  };
}

function imageOf(r: ImageRec): ImageRow {
  return {
    id: Number(r.id),
    sha1: r.sha1,
    kind: r.kind === 'xylist' ? 'xylist' : 'image',
    format: r.format,
    width: Number(r.width),
    height: Number(r.height),
    createdAt: Number(r.created_at),
  };
}

const placeholders = (k: number): string => Array.from({ length: k }, () => '?').join(', ');

export class SqlStore extends DataDirs implements ServerStore {
  readonly engine: 'sqlite' | 'postgres';
  /** Appended to the SELECT that picks work: rows another node is taking are skipped, not waited on. */
  private readonly skipLocked: string;
  /** Appended where a node locks a row it owns: it waits for a lease renewal, never skips its own row. */
  private readonly forUpdate: string;
  onChange: () => void = () => undefined;

  constructor(
    private readonly db: Db,
    dataDir: string,
    tmpDir: string,
  ) {
    super(dataDir, tmpDir);
    this.engine = db.dialect;
    this.skipLocked = db.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    this.forUpdate = db.dialect === 'postgres' ? ' FOR UPDATE' : '';
  }

  /** Tells onChange once `write` has committed, if it changed anything (`did`). */
  private async notifying<T>(write: Promise<T>, did: (v: T) => boolean): Promise<T> {
    const v = await write;
    if (did(v)) this.onChange();
    return v;
  }

  private async allocate(q: Queryable, kind: IdKind): Promise<number> {
    const row = await q.get<{ id: number }>('UPDATE counters SET next = next + 1 WHERE name = ? RETURNING next - 1 AS id', [kind]);
    if (!row) throw new Error(`no id counter ${kind}`);
    return Number(row.id);
  }

  nextId(kind: IdKind): Promise<number> {
    return this.allocate(this.db, kind);
  }

  async ensureUser(keyHash: string): Promise<UserRow> {
    return this.db.tx(async (q) => {
      const found = await q.get<{ id: number; email: string }>('SELECT id, email FROM users WHERE key_hash = ?', [keyHash]);
      if (found) return { id: Number(found.id), keyHash, email: found.email };
      const id = await this.allocate(q, 'user');
      await q.run('INSERT INTO users (id, key_hash, email) VALUES (?, ?, ?) ON CONFLICT (key_hash) DO NOTHING', [id, keyHash, '']);
      const row = await q.get<{ id: number; email: string }>('SELECT id, email FROM users WHERE key_hash = ?', [keyHash]);
      if (!row) throw new Error('user vanished');
      return { id: Number(row.id), keyHash, email: row.email };
    });
  }

  /** Used by the state.json import only: keeps the old ids and emails. */
  async importUser(q: Queryable, row: UserRow): Promise<void> {
    await q.run('INSERT INTO users (id, key_hash, email) VALUES (?, ?, ?) ON CONFLICT (key_hash) DO NOTHING', [row.id, row.keyHash, row.email]);
  }

  async createSession(row: SessionRow): Promise<void> {
    await this.db.run('INSERT INTO sessions (key_hash, user_id, human, expires_at) VALUES (?, ?, ?, ?)', [row.keyHash, row.userId, row.human, row.expiresAt]);
  }

  async findSession(keyHash: string): Promise<SessionRow | undefined> {
    const r = await this.db.get<{ user_id: number | null; human: number; expires_at: number }>(
      'SELECT user_id, human, expires_at FROM sessions WHERE key_hash = ?',
      [keyHash],
    );
    return r && { keyHash, userId: n(r.user_id), human: Number(r.human) === 1, expiresAt: Number(r.expires_at) };
  }

  async touchSession(keyHash: string, nowMs: number, expiresAt: number): Promise<void> {
    await this.db.run('UPDATE sessions SET expires_at = ? WHERE key_hash = ? AND expires_at > ?', [expiresAt, keyHash, nowMs]);
  }

  async expireSessions(mode: 'expired' | 'purged', nowMs: number): Promise<void> {
    if (mode === 'purged') await this.db.run('DELETE FROM sessions');
    else await this.db.run('UPDATE sessions SET expires_at = ? WHERE expires_at > ?', [nowMs - 1, nowMs - 1]);
  }

  purgeSessions(cutoffMs: number): Promise<number> {
    return this.db.run('DELETE FROM sessions WHERE expires_at <= ?', [cutoffMs]);
  }

  async insertSubmission(row: SubmissionRow): Promise<void> {
    await this.notifying(this.insertSubmissionWith(this.db, row), () => true);
  }

  async insertSubmissionWith(q: Queryable, row: SubmissionRow): Promise<void> {
    await q.run(
      `INSERT INTO submissions (id, user_id, submitted_at, processing_started, processing_finished, error_message, source,
        original_filename, options, publicly_visible, allow_commercial_use, allow_modifications)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        row.id,
        row.userId,
        row.submittedAt,
        row.processingStarted,
        row.processingFinished,
        row.errorMessage,
        JSON.stringify(row.source),
        row.originalFilename,
        JSON.stringify(row.options),
        row.publiclyVisible,
        row.allowCommercialUse,
        row.allowModifications,
      ],
    );
  }

  async submission(id: number): Promise<SubmissionRow | undefined> {
    const r = await this.db.get<SubmissionRec>('SELECT * FROM submissions WHERE id = ?', [id]);
    return r && submissionOf(r);
  }

  async countSubmissions(): Promise<number> {
    const r = await this.db.get<{ c: number }>('SELECT COUNT(*) AS c FROM submissions');
    return Number(r?.c ?? 0);
  }

  claimSubmission(node: string, nowMicros: number, leaseUntil: number): Promise<SubmissionRow | undefined> {
    return this.notifying(this.claimSubmissionTx(node, nowMicros, leaseUntil), (v) => v !== undefined);
  }

  private claimSubmissionTx(node: string, nowMicros: number, leaseUntil: number): Promise<SubmissionRow | undefined> {
    return this.db.tx(async (q) => {
      const pick = await q.get<{ id: number }>(
        `SELECT id FROM submissions WHERE processing_finished IS NULL AND node IS NULL ORDER BY id LIMIT 1${this.skipLocked}`,
      );
      if (!pick) return undefined;
      await q.run('UPDATE submissions SET node = ?, lease_until = ?, processing_started = ? WHERE id = ?', [node, leaseUntil, nowMicros, pick.id]);
      const r = await q.get<SubmissionRec>('SELECT * FROM submissions WHERE id = ?', [pick.id]);
      return r && submissionOf(r);
    });
  }

  async findImage(sha1: string, kind: ImageRow['kind']): Promise<ImageRow | undefined> {
    const r = await this.db.get<ImageRec>('SELECT * FROM images WHERE sha1 = ? AND kind = ? ORDER BY id LIMIT 1', [sha1, kind]);
    return r && imageOf(r);
  }

  async insertImage(row: ImageRow): Promise<void> {
    await this.insertImageWith(this.db, row);
  }

  async insertImageWith(q: Queryable, row: ImageRow): Promise<void> {
    await q.run('INSERT INTO images (id, sha1, kind, format, width, height, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      row.id,
      row.sha1,
      row.kind,
      row.format,
      row.width,
      row.height,
      row.createdAt,
    ]);
  }

  finishIngest(subId: number, node: string, started: number, result: IngestResultRow, finishedAt: number): Promise<boolean> {
    return this.notifying(this.finishIngestTx(subId, node, started, result, finishedAt), (v) => v);
  }

  private finishIngestTx(subId: number, node: string, started: number, result: IngestResultRow, finishedAt: number): Promise<boolean> {
    return this.db.tx(async (q) => {
      const sub = await q.get<SubmissionRec>(
        `SELECT * FROM submissions WHERE id = ? AND node = ? AND processing_started = ? AND processing_finished IS NULL${this.forUpdate}`,
        [subId, node, started],
      );
      if (!sub) return false;
      if (result.userImage) {
        const id = await this.allocate(q, 'userImage');
        await this.insertUserImage(q, {
          id,
          submissionId: subId,
          imageId: result.userImage.imageId,
          userId: Number(sub.user_id),
          originalFilename: result.originalFilename,
          tags: [],
          machineTags: [],
          objectsInField: [],
        }, false);
      }
      await q.run(
        'UPDATE submissions SET original_filename = ?, error_message = ?, processing_finished = ?, node = NULL, lease_until = NULL WHERE id = ?',
        [result.originalFilename, result.errorMessage, finishedAt, subId],
      );
      return true;
    });
  }

  async insertUserImage(q: Queryable, u: UserImageRow, hasJob: boolean): Promise<void> {
    await q.run(
      `INSERT INTO user_images (id, submission_id, image_id, user_id, original_filename, tags, machine_tags, objects_in_field, has_job)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [u.id, u.submissionId, u.imageId, u.userId, u.originalFilename, JSON.stringify(u.tags), JSON.stringify(u.machineTags), JSON.stringify(u.objectsInField), hasJob],
    );
    await this.writeTags(q, u.id, u.tags);
  }

  private async writeTags(q: Queryable, userImageId: number, tags: readonly string[]): Promise<void> {
    await q.run('DELETE FROM tags WHERE user_image_id = ?', [userImageId]);
    for (const [i, t] of tags.entries()) {
      await q.run('INSERT INTO tags (user_image_id, position, text, lower_text) VALUES (?, ?, ?, ?)', [userImageId, i, t, t.toLowerCase()]);
    }
  }

  async userImage(id: number): Promise<UserImageRow | undefined> {
    const r = await this.db.get<UserImageRec>('SELECT * FROM user_images WHERE id = ?', [id]);
    return r && userImageOf(r);
  }

  async userImagesOf(submissionId: number): Promise<UserImageRow[]> {
    const rows = await this.db.all<UserImageRec>('SELECT * FROM user_images WHERE submission_id = ? ORDER BY id', [submissionId]);
    return rows.map(userImageOf);
  }

  async image(id: number): Promise<ImageRow | undefined> {
    const r = await this.db.get<ImageRec>('SELECT * FROM images WHERE id = ?', [id]);
    return r && imageOf(r);
  }

  async job(id: number): Promise<JobRow | undefined> {
    const r = await this.db.get<JobRec>('SELECT * FROM jobs WHERE id = ?', [id]);
    return r && jobOf(r);
  }

  async jobsOf(userImageId: number): Promise<JobRow[]> {
    const rows = await this.db.all<JobRec>('SELECT * FROM jobs WHERE user_image_id = ? ORDER BY id', [userImageId]);
    return rows.map(jobOf);
  }

  async jobIdsOfUser(userId: number): Promise<number[]> {
    const rows = await this.db.all<{ id: number }>(
      'SELECT j.id FROM jobs j JOIN user_images u ON u.id = j.user_image_id WHERE u.user_id = ? ORDER BY j.id',
      [userId],
    );
    return rows.map((r) => Number(r.id));
  }

  claimJob(node: string, nowMicros: number, leaseUntil: number): Promise<ClaimedJob | undefined> {
    return this.notifying(this.claimJobTx(node, nowMicros, leaseUntil), (v) => v !== undefined);
  }

  private claimJobTx(node: string, nowMicros: number, leaseUntil: number): Promise<ClaimedJob | undefined> {
    return this.db.tx(async (q) => {
      const pick = await q.get<UserImageRec>(`SELECT * FROM user_images WHERE has_job = 0 ORDER BY id LIMIT 1${this.skipLocked}`);
      if (!pick) return undefined;
      await q.run('UPDATE user_images SET has_job = 1 WHERE id = ?', [pick.id]);
      const id = await this.allocate(q, 'job');
      await q.run(
        'INSERT INTO jobs (id, user_image_id, queued_at, started_at, ended_at, status, calibration, files, node, lease_until) VALUES (?, ?, ?, NULL, NULL, NULL, NULL, ?, ?, ?)',
        [id, pick.id, nowMicros, '{}', node, leaseUntil],
      );
      const image = await q.get<ImageRec>('SELECT * FROM images WHERE id = ?', [pick.image_id]);
      const sub = await q.get<SubmissionRec>('SELECT * FROM submissions WHERE id = ?', [pick.submission_id]);
      if (!image || !sub) throw new Error(`user image ${pick.id} lost its image or submission`);
      const job: JobRow = { id, userImageId: Number(pick.id), queuedAt: nowMicros, startedAt: null, endedAt: null, status: null, calibration: null, files: {} };
      return { job, userImage: userImageOf(pick), image: imageOf(image), submission: submissionOf(sub) };
    });
  }

  async startJob(jobId: number, node: string, startedAt: number): Promise<boolean> {
    const changed = this.db.run('UPDATE jobs SET started_at = ? WHERE id = ? AND node = ? AND ended_at IS NULL', [startedAt, jobId, node]);
    return (await this.notifying(changed, (k) => k > 0)) > 0;
  }

  finishJob(jobId: number, node: string, o: JobOutcomeRow): Promise<boolean> {
    return this.notifying(this.finishJobTx(jobId, node, o), (v) => v);
  }

  private finishJobTx(jobId: number, node: string, o: JobOutcomeRow): Promise<boolean> {
    return this.db.tx(async (q) => {
      const job = await q.get<{ user_image_id: number }>(`SELECT user_image_id FROM jobs WHERE id = ? AND node = ? AND ended_at IS NULL${this.forUpdate}`, [
        jobId,
        node,
      ]);
      if (!job) return false;
      let calibration: (Calibration & { id: number }) | null = null;
      if (o.calibration) calibration = { id: await this.allocate(q, 'calibration'), ...o.calibration };
      await q.run('UPDATE jobs SET status = ?, calibration = ?, files = ?, ended_at = ?, failure_reason = ?, node = NULL, lease_until = NULL WHERE id = ?', [
        o.status,
        calibration === null ? null : JSON.stringify(calibration),
        JSON.stringify(o.files),
        o.endedAt,
        o.status === 'F' ? (o.failureReason ?? null) : null,
        jobId,
      ]);
      await q.run('UPDATE user_images SET tags = ?, machine_tags = ?, objects_in_field = ? WHERE id = ?', [
        JSON.stringify(o.tags),
        JSON.stringify(o.machineTags),
        JSON.stringify(o.objectsInField),
        job.user_image_id,
      ]);
      await this.writeTags(q, Number(job.user_image_id), o.tags);
      return true;
    });
  }

  async renewLeases(node: string, leaseUntil: number, held: { jobs: readonly number[]; submissions: readonly number[] }): Promise<void> {
    // Only what the node still works on: a claim whose run ended without a result lapses.
    for (const [table, ids, open] of [
      ['jobs', held.jobs, 'ended_at IS NULL'],
      ['submissions', held.submissions, 'processing_finished IS NULL'],
    ] as const) {
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        await this.db.run(`UPDATE ${table} SET lease_until = ? WHERE node = ? AND ${open} AND id IN (${placeholders(chunk.length)})`, [leaseUntil, node, ...chunk]);
      }
    }
  }

  releaseClaims(opts: { nowMs: number; all?: boolean; node?: string }): Promise<{ jobs: number[]; submissions: number[] }> {
    return this.notifying(this.releaseClaimsTx(opts), (v) => v.jobs.length + v.submissions.length > 0);
  }

  private releaseClaimsTx(opts: { nowMs: number; all?: boolean; node?: string }): Promise<{ jobs: number[]; submissions: number[] }> {
    const [cond, params]: [string, SqlParam[]] = opts.all
      ? ['node IS NOT NULL', []]
      : opts.node !== undefined
        ? ['node = ?', [opts.node]]
        : ['node IS NOT NULL AND lease_until < ?', [opts.nowMs]];
    return this.db.tx(async (q) => {
      const jobs = await q.all<{ id: number; user_image_id: number }>(`SELECT id, user_image_id FROM jobs WHERE ended_at IS NULL AND ${cond}${this.skipLocked}`, params);
      for (const j of jobs) {
        await q.run('DELETE FROM jobs WHERE id = ?', [j.id]);
        await q.run('UPDATE user_images SET has_job = 0 WHERE id = ? AND NOT EXISTS (SELECT 1 FROM jobs WHERE user_image_id = ?)', [j.user_image_id, j.user_image_id]);
      }
      const subs = await q.all<{ id: number }>(
        `UPDATE submissions SET processing_started = NULL, node = NULL, lease_until = NULL WHERE processing_finished IS NULL AND ${cond} RETURNING id`,
        params,
      );
      return { jobs: jobs.map((j) => Number(j.id)), submissions: subs.map((s) => Number(s.id)) };
    });
  }

  // jobs_by_tag lists newest first, as nova does: images newest first, each image's jobs newest first.
  async jobsByTagExact(query: string): Promise<{ tags: string[]; jobIds: number[] }> {
    const texts = await this.db.all<{ text: string }>('SELECT DISTINCT text FROM tags WHERE lower_text = ?', [query.toLowerCase()]);
    if (texts.length !== 1) return { tags: texts.map((t) => t.text), jobIds: [] };
    const uis = await this.db.all<{ user_image_id: number }>('SELECT DISTINCT user_image_id FROM tags WHERE text = ? ORDER BY user_image_id DESC', [
      (texts[0] as { text: string }).text,
    ]);
    return { tags: [(texts[0] as { text: string }).text], jobIds: await this.jobIdsOfImages(uis.map((u) => Number(u.user_image_id))) };
  }

  async jobsByTagContains(query: string): Promise<number[]> {
    const pattern = `%${query.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = await this.db.all<{ user_image_id: number }>("SELECT user_image_id FROM tags WHERE lower_text LIKE ? ESCAPE '\\' ORDER BY user_image_id DESC, position", [
      pattern,
    ]);
    // The tag join yields an image once per matching tag, hence possible duplicates (as nova).
    return this.jobIdsOfImages(rows.map((r) => Number(r.user_image_id)));
  }

  private async jobIdsOfImages(uiIds: number[]): Promise<number[]> {
    if (uiIds.length === 0) return [];
    const distinct = [...new Set(uiIds)];
    const byUi = new Map<number, number[]>();
    for (let i = 0; i < distinct.length; i += 500) {
      const chunk = distinct.slice(i, i + 500);
      const rows = await this.db.all<{ id: number; user_image_id: number }>(
        `SELECT id, user_image_id FROM jobs WHERE user_image_id IN (${placeholders(chunk.length)}) ORDER BY id DESC`,
        chunk,
      );
      for (const r of rows) {
        const list = byUi.get(Number(r.user_image_id)) ?? [];
        list.push(Number(r.id));
        byUi.set(Number(r.user_image_id), list);
      }
    }
    return uiIds.flatMap((u) => byUi.get(u) ?? []);
  }

  sweep(cutoffMicros: number): Promise<SweepResult> {
    return this.notifying(this.sweepTx(cutoffMicros), (v) => v.submissions.length + v.jobs.length > 0);
  }

  private sweepTx(cutoffMicros: number): Promise<SweepResult> {
    return this.db.tx(async (q) => {
      const subs = await q.all<{ id: number }>(
        `SELECT s.id FROM submissions s WHERE s.submitted_at < ? AND s.processing_finished IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM user_images u WHERE u.submission_id = s.id
           AND (u.has_job = 0 OR EXISTS (SELECT 1 FROM jobs j WHERE j.user_image_id = u.id AND j.ended_at IS NULL)))`,
        [cutoffMicros],
      );
      const out: SweepResult = { submissions: [], jobs: [], images: [] };
      const maybeUnused = new Set<number>();
      for (const { id } of subs) {
        const uis = await q.all<{ id: number; image_id: number }>('SELECT id, image_id FROM user_images WHERE submission_id = ?', [id]);
        for (const u of uis) {
          const jobs = await q.all<{ id: number }>('SELECT id FROM jobs WHERE user_image_id = ?', [u.id]);
          out.jobs.push(...jobs.map((j) => Number(j.id)));
          await q.run('DELETE FROM jobs WHERE user_image_id = ?', [u.id]);
          await q.run('DELETE FROM tags WHERE user_image_id = ?', [u.id]);
          maybeUnused.add(Number(u.image_id));
        }
        await q.run('DELETE FROM user_images WHERE submission_id = ?', [id]);
        await q.run('DELETE FROM submissions WHERE id = ?', [id]);
        out.submissions.push(Number(id));
      }
      for (const imageId of maybeUnused) {
        const used = await q.get('SELECT 1 AS one FROM user_images WHERE image_id = ? LIMIT 1', [imageId]);
        if (used) continue;
        await q.run('DELETE FROM images WHERE id = ?', [imageId]);
        out.images.push(imageId);
      }
      return out;
    });
  }

  async registerNode(row: NodeRow): Promise<void> {
    await this.db.run(
      'INSERT INTO nodes (id, host, pid, heartbeat_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, heartbeat_at = excluded.heartbeat_at',
      [row.id, row.host, row.pid, row.heartbeatAt],
    );
  }

  async heartbeat(node: string, nowMs: number): Promise<void> {
    await this.db.run('UPDATE nodes SET heartbeat_at = ? WHERE id = ?', [nowMs, node]);
  }

  async nodesOnHost(host: string): Promise<NodeRow[]> {
    const rows = await this.db.all<{ id: string; host: string; pid: number; heartbeat_at: number }>('SELECT * FROM nodes WHERE host = ?', [host]);
    return rows.map((r) => ({ id: r.id, host: r.host, pid: Number(r.pid), heartbeatAt: Number(r.heartbeat_at) }));
  }

  async forgetNode(node: string): Promise<void> {
    await this.db.run('DELETE FROM nodes WHERE id = ?', [node]);
  }

  async recordProcess(row: ProcessRow): Promise<void> {
    await this.db.run(
      'INSERT INTO solver_processes (host, pid, node, start_ticks, job_id) VALUES (?, ?, ?, ?, ?) ON CONFLICT (host, pid) DO UPDATE SET node = excluded.node, start_ticks = excluded.start_ticks, job_id = excluded.job_id',
      [row.host, row.pid, row.node, row.startTicks, row.jobId],
    );
  }

  async forgetProcess(host: string, pid: number): Promise<void> {
    await this.db.run('DELETE FROM solver_processes WHERE host = ? AND pid = ?', [host, pid]);
  }

  async processesOnHost(host: string): Promise<ProcessRow[]> {
    const rows = await this.db.all<{ host: string; pid: number; node: string; start_ticks: string; job_id: number | null }>(
      'SELECT * FROM solver_processes WHERE host = ?',
      [host],
    );
    return rows.map((r) => ({ host: r.host, pid: Number(r.pid), node: r.node, startTicks: r.start_ticks, jobId: n(r.job_id) }));
  }

  /** For the state.json import: one transaction over the raw handle. */
  transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.db.tx(fn);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
