/**
 * The server's state: rows as the handlers see them, and the one typed interface every storage
 * engine implements (embedded SQLite by default, PostgreSQL for several nodes; see store/).
 *
 * Files live in directories named only from server-generated integer ids; user-supplied
 * names are metadata, never path components.
 */
import { join } from 'node:path';
import type { Calibration } from 'astrometry-net-client';
import type { ParsedUploadOptions } from '../solver-backend.js';

export interface UserRow {
  id: number;
  /** sha256 of the API key: the key itself is never written down. */
  keyHash: string;
  /** Empty for a user known only by an API key (nova's message then ends after the colon). */
  email: string;
}

export interface SessionRow {
  /** sha256 of the session key: a stolen database holds no usable session. */
  keyHash: string;
  /** Logged-in user; null once Django would load the session as empty. */
  userId: number | null;
  human: boolean;
  /** ms since epoch. */
  expiresAt: number;
}

export type SubmissionSource = { kind: 'file'; sha1: string } | { kind: 'xy'; sha1: string } | { kind: 'url'; url: string | null } | { kind: 'none' };

export interface SubmissionRow {
  id: number;
  userId: number;
  /** microseconds since epoch, like Django's DateTimeField precision. */
  submittedAt: number;
  processingStarted: number | null;
  processingFinished: number | null;
  errorMessage: string | null;
  source: SubmissionSource;
  originalFilename: string;
  /** Effective options (model defaults filled in), for the solver. */
  options: ParsedUploadOptions;
  publiclyVisible: string;
  allowCommercialUse: string;
  allowModifications: string;
}

export interface ImageRow {
  id: number;
  sha1: string;
  kind: 'image' | 'xylist';
  /** 'fits' | 'jpeg' | 'png' | 'gif' | 'pnm' for images; 'xyls' for source lists. */
  format: string;
  width: number;
  height: number;
  createdAt: number;
}

export interface UserImageRow {
  id: number;
  submissionId: number;
  imageId: number;
  userId: number;
  originalFilename: string;
  tags: string[];
  machineTags: string[];
  objectsInField: string[];
}

export interface CalibrationRow extends Calibration {
  id: number;
}

export interface JobRow {
  id: number;
  userImageId: number;
  queuedAt: number | null;
  startedAt: number | null;
  endedAt: number | null;
  status: 'S' | 'F' | null;
  calibration: CalibrationRow | null;
  /** Result files by SolveFiles key, as names relative to the job directory. */
  files: Record<string, string>;
  /** Why a failed job could not solve, when the solver knows (served as `failure_reason`). */
  failureReason?: string;
}

export type IdKind = 'user' | 'submission' | 'userImage' | 'image' | 'job' | 'calibration';

/** A job handed to one node, with everything the solver needs. */
export interface ClaimedJob {
  job: JobRow;
  userImage: UserImageRow;
  image: ImageRow;
  submission: SubmissionRow;
}

export interface IngestResultRow {
  originalFilename: string;
  errorMessage: string | null;
  /** The user image to create (its id is allocated by the store). */
  userImage: Omit<UserImageRow, 'id' | 'submissionId' | 'userId' | 'originalFilename' | 'tags' | 'machineTags' | 'objectsInField'> | null;
}

export interface JobOutcomeRow {
  status: 'S' | 'F';
  calibration: Calibration | null;
  files: Record<string, string>;
  endedAt: number;
  /** Why a failed job could not solve, when the solver knows. */
  failureReason?: string;
  tags: string[];
  machineTags: string[];
  objectsInField: string[];
}

/** A solver process some node started, recorded so it can be reaped if that node dies. */
export interface ProcessRow {
  host: string;
  pid: number;
  node: string;
  /** /proc start time of the process, so a recycled pid is never killed. */
  startTicks: string;
  jobId: number | null;
}

export interface NodeRow {
  id: string;
  host: string;
  pid: number;
  heartbeatAt: number;
}

export interface SweepResult {
  submissions: number[];
  jobs: number[];
  images: number[];
}

/**
 * Everything the server keeps between requests. Every method is one short transaction; work is
 * claimed by a node with a lease (`leaseUntil`, ms), and a node's writes to claimed rows are
 * fenced by its node id, so a node that lost its lease cannot overwrite the rerun's result.
 */
export interface ServerStore extends Dirs {
  readonly engine: 'sqlite' | 'postgres';
  /**
   * Told after every write that changes what a status read answers (submissions, user images,
   * jobs); long polls wake on it. Changes by other nodes are not seen here (holds re-check).
   */
  onChange: () => void;

  nextId(kind: IdKind): Promise<number>;

  ensureUser(keyHash: string): Promise<UserRow>;

  createSession(row: SessionRow): Promise<void>;
  findSession(keyHash: string): Promise<SessionRow | undefined>;
  /** Slides the expiry of a live session; an expired one stays expired. */
  touchSession(keyHash: string, nowMs: number, expiresAt: number): Promise<void>;
  expireSessions(mode: 'expired' | 'purged', nowMs: number): Promise<void>;
  /** Deletes sessions that expired before `cutoffMs`; returns how many. */
  purgeSessions(cutoffMs: number): Promise<number>;

  insertSubmission(row: SubmissionRow): Promise<void>;
  submission(id: number): Promise<SubmissionRow | undefined>;
  countSubmissions(): Promise<number>;
  /** The oldest submission nobody is ingesting (or whose ingesting node lost its lease). */
  claimSubmission(node: string, nowMicros: number, leaseUntil: number): Promise<SubmissionRow | undefined>;
  findImage(sha1: string, kind: ImageRow['kind']): Promise<ImageRow | undefined>;
  insertImage(row: ImageRow): Promise<void>;
  /** Ends an ingest: false when this node's claim was lost meanwhile (nothing is written). */
  finishIngest(subId: number, node: string, started: number, result: IngestResultRow, finishedAt: number): Promise<boolean>;

  userImage(id: number): Promise<UserImageRow | undefined>;
  userImagesOf(submissionId: number): Promise<UserImageRow[]>;
  image(id: number): Promise<ImageRow | undefined>;

  job(id: number): Promise<JobRow | undefined>;
  jobsOf(userImageId: number): Promise<JobRow[]>;
  jobIdsOfUser(userId: number): Promise<number[]>;
  /** Creates a job for the oldest user image that has none, claimed by `node`. */
  claimJob(node: string, nowMicros: number, leaseUntil: number): Promise<ClaimedJob | undefined>;
  startJob(jobId: number, node: string, startedAt: number): Promise<boolean>;
  finishJob(jobId: number, node: string, outcome: JobOutcomeRow): Promise<boolean>;

  /** Extends `node`'s lease on the jobs and submissions it is still working on. */
  renewLeases(node: string, leaseUntil: number, held: { jobs: readonly number[]; submissions: readonly number[] }): Promise<void>;
  /**
   * nova's worker restart for claims whose lease ran out (all claims when `all`): unfinished
   * submissions are reset, unfinished jobs deleted; their images get new jobs under new ids.
   */
  releaseClaims(opts: { nowMs: number; all?: boolean; node?: string }): Promise<{ jobs: number[]; submissions: number[] }>;

  jobsByTagExact(query: string): Promise<{ tags: string[]; jobIds: number[] }>;
  jobsByTagContains(query: string): Promise<number[]>;

  /** Deletes finished submissions older than `cutoffMicros` with their user images and jobs, and images no longer used. */
  sweep(cutoffMicros: number): Promise<SweepResult>;

  registerNode(row: NodeRow): Promise<void>;
  heartbeat(node: string, nowMs: number): Promise<void>;
  nodesOnHost(host: string): Promise<NodeRow[]>;
  forgetNode(node: string): Promise<void>;
  recordProcess(row: ProcessRow): Promise<void>;
  forgetProcess(host: string, pid: number): Promise<void>;
  processesOnHost(host: string): Promise<ProcessRow[]>;

  close(): Promise<void>;
}

export function checkedId(id: number): number {
  if (!Number.isSafeInteger(id) || id <= 0) throw new Error(`invalid id ${String(id)}`);
  return id;
}

export interface Dirs {
  readonly dataDir: string;
  /** This node's own scratch directory (partial uploads). */
  readonly tmpDir: string;
  submissionDir(id: number): string;
  imageDir(id: number): string;
  jobDir(id: number): string;
}

/** Where a store's files live: one directory per id, shared by every node. */
export class DataDirs implements Dirs {
  constructor(
    readonly dataDir: string,
    readonly tmpDir: string = join(dataDir, 'tmp'),
  ) {}

  submissionDir(id: number): string {
    return join(this.dataDir, 'submissions', String(checkedId(id)));
  }

  imageDir(id: number): string {
    return join(this.dataDir, 'images', String(checkedId(id)));
  }

  jobDir(id: number): string {
    return join(this.dataDir, 'jobs', String(checkedId(id)));
  }
}
