/**
 * Server state, kept in memory and persisted as one JSON file under `dataDir`, replaced
 * atomically (write a temp file, fsync, rename) so a crash never leaves half a state.
 *
 * Files live in directories named only from server-generated integer ids; user-supplied
 * names are metadata, never path components.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Calibration } from '../models.js';
import type { ParsedUploadOptions } from './solver-backend.js';

export interface UserRow {
  id: number;
  /** sha256 of the API key: the key itself is never written to disk. */
  keyHash: string;
  email: string;
}

export interface SessionRow {
  key: string;
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

export interface StateData {
  version: 1;
  next: { user: number; submission: number; userImage: number; image: number; job: number; calibration: number };
  users: UserRow[];
  sessions: SessionRow[];
  submissions: SubmissionRow[];
  userImages: UserImageRow[];
  images: ImageRow[];
  jobs: JobRow[];
}

function emptyState(): StateData {
  // Separate id ranges make a client that mixes up ids fail loudly in tests.
  return {
    version: 1,
    next: { user: 1, submission: 1001, userImage: 2001, image: 3001, job: 4001, calibration: 5001 },
    users: [],
    sessions: [],
    submissions: [],
    userImages: [],
    images: [],
    jobs: [],
  };
}

export function checkedId(id: number): number {
  if (!Number.isSafeInteger(id) || id <= 0) throw new Error(`invalid id ${String(id)}`);
  return id;
}

export class Store {
  private data: StateData = emptyState();
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;
  private seq = 0;
  /** Told of every save(), i.e. every change; long polls wake on it. */
  onChange: () => void = () => undefined;

  private constructor(
    readonly dataDir: string,
    private readonly onError: (err: Error) => void,
  ) {}

  static async open(dataDir: string, onError: (err: Error) => void = () => undefined): Promise<Store> {
    const s = new Store(dataDir, onError);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    for (const d of ['submissions', 'images', 'jobs']) await mkdir(join(dataDir, d), { recursive: true });
    // Temp files of an earlier process (partial uploads) are garbage now.
    await rm(s.tmpDir, { recursive: true, force: true });
    await mkdir(s.tmpDir, { recursive: true, mode: 0o700 });
    try {
      const text = await readFile(s.statePath, 'utf8');
      const parsed = JSON.parse(text) as StateData;
      if (parsed.version !== 1) throw new Error(`unsupported state version ${String(parsed.version)}`);
      s.data = { ...emptyState(), ...parsed };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return s;
  }

  get state(): StateData {
    return this.data;
  }

  get statePath(): string {
    return join(this.dataDir, 'state.json');
  }

  get tmpDir(): string {
    return join(this.dataDir, 'tmp');
  }

  submissionDir(id: number): string {
    return join(this.dataDir, 'submissions', String(checkedId(id)));
  }

  imageDir(id: number): string {
    return join(this.dataDir, 'images', String(checkedId(id)));
  }

  jobDir(id: number): string {
    return join(this.dataDir, 'jobs', String(checkedId(id)));
  }

  nextId(kind: keyof StateData['next']): number {
    const id = this.data.next[kind];
    this.data.next[kind] = id + 1;
    return id;
  }

  submission(id: number): SubmissionRow | undefined {
    return this.data.submissions.find((s) => s.id === id);
  }

  job(id: number): JobRow | undefined {
    return this.data.jobs.find((j) => j.id === id);
  }

  image(id: number): ImageRow | undefined {
    return this.data.images.find((i) => i.id === id);
  }

  userImage(id: number): UserImageRow | undefined {
    return this.data.userImages.find((u) => u.id === id);
  }

  userImagesOf(subId: number): UserImageRow[] {
    return this.data.userImages.filter((u) => u.submissionId === subId).sort((a, b) => a.id - b.id);
  }

  jobsOf(userImageId: number): JobRow[] {
    return this.data.jobs.filter((j) => j.userImageId === userImageId).sort((a, b) => a.id - b.id);
  }

  /**
   * Persists the current state. Resolves once a write that includes every change made before
   * the call is on disk; concurrent calls coalesce into one write.
   */
  save(): Promise<void> {
    this.dirty = true;
    this.onChange();
    // A failed write must not poison later ones: each link starts from a settled chain.
    const p = this.writing
      .catch(() => undefined)
      .then(async () => {
        if (!this.dirty) return;
        this.dirty = false;
        await this.writeNow();
      });
    this.writing = p;
    return p;
  }

  /** save() for callers that cannot wait: a failure is reported, never left unhandled. */
  saveInBackground(): void {
    this.save().catch((err: unknown) => this.onError(err as Error));
  }

  private async writeNow(): Promise<void> {
    const tmp = join(this.dataDir, `.state.json.${process.pid}.${++this.seq}.tmp`);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(this.data));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.statePath);
  }
}
