/**
 * Resume for `solve`: `<out>/.astrometry-net-journal/`, one JSON file per input.
 *
 * An input's file is keyed by a hash of its absolute path (or URL) plus its upload options, and
 * is rewritten atomically (temp file + rename, synchronously) every time that input's solve
 * machine changes state, so it holds a summary of the machine's persisted snapshot: its state,
 * subid, jobId, whether it is done and how it ended.
 *
 * The write that records `uploading` happens in the same tick the machine enters it, before the
 * upload request can leave (the upload actor awaits the session first), so after a crash the
 * journal either shows an upload that never started, or one that may have reached the server.
 * The latter is never sent again silently.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SerializedError } from '../errors.js';
import type { Calibration } from '../protocol/models.js';
import type { WireUploadOptions } from '../protocol/upload-options.js';
import type { SolveQuality } from '../client/quality.js';
import { stable } from '../client/stable-json.js';

export const JOURNAL_DIR = '.astrometry-net-journal';
export const JOURNAL_FORMAT = 'astrometry-net-cli/journal@1';

/** The top-level machine states (`SolveView.stage`) that mean a request is or was under way. */
export type ActiveStage = 'idle' | 'loggingIn' | 'uploading' | 'submissionPending' | 'jobRunning' | 'fetchingResults';

export interface JournalEntry {
  format: typeof JOURNAL_FORMAT;
  key: string;
  /** The input's absolute path or URL (source lists: `sourcelist:<path>`). */
  input: string;
  /** The solve machine's state, dotted (`jobRunning.waiting`), or `queued`. */
  state: string;
  /**
   * The last stage (top-level state) in which a request was under way: tells what a crash may
   * have left. Written as `phase` by 0.1.0; such entries are read with it as `stage`.
   */
  stage: ActiveStage | 'queued';
  subid: number | null;
  jobId: number | null;
  /**
   * The API URL of the server that has the submission and job: with several `--api-url`, a rerun
   * asks that one (an id means nothing elsewhere). Absent in entries before 0.2.0: the primary.
   */
  server?: string | null;
  /** Finished: success with every file written, or a failure that a rerun would repeat. */
  done: boolean;
  outcome: 'success' | 'failure' | null;
  calibration: Calibration | null;
  error: SerializedError | null;
  /** Files written, by kind. */
  files: Record<string, string>;
  /** The solution's quality report, when it was made (absent in entries of 0.1.0). */
  quality?: SolveQuality | null;
  updatedAt: string;
}

/** An entry as 0.1.0 wrote it: `stage` was called `phase`. */
type EntryOf010 = Omit<JournalEntry, 'stage'> & { phase: JournalEntry['stage'] };

/** An entry of this version, from one of this version or of 0.1.0. */
export function upgradeEntry(entry: JournalEntry | EntryOf010): JournalEntry {
  if ('stage' in entry) return entry;
  const { phase, ...rest } = entry;
  return { ...rest, stage: phase };
}

/** Failures a rerun would only repeat: recorded as done. Everything else is retried or resumed. */
export const TERMINAL_ERROR_CODES = new Set(['job_failed', 'submission_failed']);

/** The journal key of an input: a hash of its identity and its upload options. */
export function journalKey(inputId: string, options: WireUploadOptions): string {
  return createHash('sha256')
    .update(JSON.stringify({ input: inputId, options: stable(options) }))
    .digest('hex')
    .slice(0, 32);
}

export class Journal {
  readonly dir: string;

  constructor(outDir: string) {
    this.dir = join(outDir, JOURNAL_DIR);
  }

  #path(key: string): string {
    return join(this.dir, `${key}.json`);
  }

  read(key: string): JournalEntry | undefined {
    try {
      const entry = JSON.parse(readFileSync(this.#path(key), 'utf8')) as JournalEntry | EntryOf010;
      return entry?.format === JOURNAL_FORMAT && entry.key === key ? upgradeEntry(entry) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Atomic and synchronous: the entry is on disk when this returns. */
  write(entry: JournalEntry): void {
    mkdirSync(this.dir, { recursive: true });
    const path = this.#path(entry.key);
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(entry, null, 2)}\n`);
    renameSync(tmp, path);
  }

  /** Every entry in the directory (for tests and inspection). */
  entries(): JournalEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: JournalEntry[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const entry = this.read(name.slice(0, -5));
      if (entry) out.push(entry);
    }
    return out;
  }

  remove(key: string): void {
    try {
      unlinkSync(this.#path(key));
    } catch {
      // already gone
    }
  }
}

export function newEntry(key: string, input: string): JournalEntry {
  return {
    format: JOURNAL_FORMAT,
    key,
    input,
    state: 'queued',
    stage: 'queued',
    subid: null,
    jobId: null,
    server: null,
    done: false,
    outcome: null,
    calibration: null,
    error: null,
    files: {},
    updatedAt: new Date().toISOString(),
  };
}

/** What to do with an input, given its journal entry. */
export type ResumePlan =
  | { action: 'skip'; entry: JournalEntry }
  | { action: 'resumeJob'; jobId: number; entry: JournalEntry }
  | { action: 'resumeSubmission'; subid: number; entry: JournalEntry }
  | { action: 'interrupted'; entry: JournalEntry }
  | { action: 'upload' };

export function planFor(entry: JournalEntry | undefined, options: { reupload: boolean; filesPresent: (files: Record<string, string>) => boolean }): ResumePlan {
  if (!entry) return { action: 'upload' };
  if (entry.done && entry.outcome === 'failure') return { action: 'skip', entry };
  if (entry.done && entry.outcome === 'success' && options.filesPresent(entry.files)) return { action: 'skip', entry };
  if (entry.jobId !== null) return { action: 'resumeJob', jobId: entry.jobId, entry };
  if (entry.subid !== null) return { action: 'resumeSubmission', subid: entry.subid, entry };
  if (entry.stage === 'uploading') return options.reupload ? { action: 'upload' } : { action: 'interrupted', entry };
  return { action: 'upload' };
}
