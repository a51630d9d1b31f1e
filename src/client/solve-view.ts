/**
 * What a caller sees of a solve: ONE projection of a solve machine's snapshot, used by every
 * facade that shows a solve (React's `useSolve`, the batch's progress, `SolveResult`, the
 * `solveMany` outcome, the child solve's output and the CLI), so a field means the same thing
 * wherever it appears.
 *
 * Three words tell where a solve is, each at its own grain:
 * - `state`: the statechart's state, dotted (`submissionPending.waiting`);
 * - `stage`: its top-level state (`uploading`, `jobRunning`, …);
 * - `phase`: the four things a screen shows (`idle`, `running`, `success`, `failure`).
 */
import type { RetryingNotice, SolveContext, SolveTag, Stage } from '../../machines/solve.machine.js';
import { reviveError, type AstrometryNetError } from '../errors.js';
import type { Calibration } from '../protocol/models.js';
import type { FileResultKind, ResultFile } from '../protocol/result-kinds.js';
import { stateName } from './started-solve.js';
import type { SolveHints } from './hints.js';

/** The four things a screen shows of a solve: not started, under way, solved, failed. */
export type SolvePhase = 'idle' | 'running' | 'success' | 'failure';

/** A solve's top-level state: `idle`, then the stages a person sees (`loggingIn` … `success`, `failure`). */
export type SolveStage = 'idle' | Stage;

/**
 * What `viewOf` reads of a snapshot: its value, context and tags. Any solve machine's snapshot
 * has them (the solve machine's, the child solve machine's, a batch item's).
 */
export interface SolveViewSource {
  value: string | Record<string, unknown>;
  context: SolveContext;
  hasTag(tag: SolveTag): boolean;
}

/** A solve, as a caller sees it: one snapshot of its statechart, projected by `viewOf`. */
export interface SolveView {
  /**
   * Where the statechart is, dotted: `uploading`, `submissionPending.waiting`,
   * `jobRunning.reading`, `success.fetchingResults`, … (`idle` before the solve starts).
   */
  state: string;
  /**
   * Its top-level state: `idle`, `loggingIn`, `uploading`, `submissionPending`, `jobRunning`,
   * `success` or `failure` (the child solve machine's final `solved` is `success`).
   */
  stage: SolveStage;
  /**
   * `idle` (nothing requested yet), `running` (a request under way or a wait between two),
   * `success` or `failure` (the outcome is known: from the tags `idle` and `settled`, and the
   * error). Results asked for may still be downloading in `success` and `failure`: see `settled`.
   */
  phase: SolvePhase;
  /**
   * Done with everything: the outcome is known (tag `settled`) and no result asked for is still
   * queued (the prefetched files are in). A batch item ends here.
   */
  settled: boolean;
  /** Bytes sent of the upload and its size (`null` when unknown); `null` before the upload starts or when nothing is uploaded. */
  upload: { sentBytes: number; totalBytes: number | null } | null;
  /** The submission id, once the server has the upload (or the solve resumed from it). */
  subid: number | null;
  /** The job solving the submission, once the server has started one. */
  jobId: number | null;
  /** SHA-1 of the uploaded bytes, when the server reported it. */
  hash: string | null;
  /** Where the image points, once solved. */
  calibration: Calibration | null;
  /** Result files fetched so far, by kind. */
  files: Partial<Record<FileResultKind, ResultFile>>;
  /** Why the solve failed: the typed error (`code`, `subid`, `jobId`); `null` unless `phase` is `failure`. */
  error: AstrometryNetError | null;
  /** Milliseconds spent in each stage that has ended, from its entry to the entry of the stage that followed it. */
  timings: StageTimings;
  /**
   * The login or upload under way failed and will be tried again: what went wrong, for a person
   * (`cannot reach nova.test: ECONNREFUSED`), the attempts so far, and when the next goes (epoch
   * ms). `null` while nothing is being retried.
   */
  retrying: RetryingNotice | null;
  /**
   * The hints sent with the upload and where each came from (a FITS header's cards, or the
   * frame before in a sequence); `retryOf` is set on the blind retry of a hinted solve that
   * failed. `null` when none was sent.
   */
  hints: SolveHints | null;
}

/** A solve not started yet (or none at all). */
const IDLE_VIEW: SolveView = Object.freeze({
  state: 'idle',
  stage: 'idle',
  phase: 'idle',
  settled: false,
  upload: null,
  subid: null,
  jobId: null,
  hash: null,
  calibration: null,
  files: Object.freeze({}),
  error: null,
  timings: Object.freeze({}),
  retrying: null,
  hints: null,
}) as SolveView;

/** The stages a solve spends time in, in order. */
export type TimedStage = 'loggingIn' | 'uploading' | 'submissionPending' | 'jobRunning';
/** Milliseconds spent in each stage, from its entry to the entry of the stage after it. */
export type StageTimings = Partial<Record<TimedStage, number>>;

const TIMED: readonly Stage[] = ['loggingIn', 'uploading', 'submissionPending', 'jobRunning', 'success'];

/** Time in each stage: from its entry to the entry of the stage that followed it. */
function timingsOf(stages: SolveContext['stages']): StageTimings {
  const out: StageTimings = {};
  for (let i = 0; i < TIMED.length - 1; i++) {
    const start = stages[TIMED[i] as Stage];
    const end = TIMED.slice(i + 1).map((s) => stages[s]).find((t) => t !== undefined);
    if (start !== undefined && end !== undefined) out[TIMED[i] as TimedStage] = end - start;
  }
  return out;
}

/** The top-level state of a snapshot (the child solve machine's final `solved` is `success`). */
export function stageOf(snapshot: Pick<SolveViewSource, 'value'>): SolveStage {
  const top = typeof snapshot.value === 'string' ? snapshot.value : (Object.keys(snapshot.value)[0] as string);
  return (top === 'solved' ? 'success' : top) as SolveStage;
}

/**
 * Settled, and no result still queued: the results asked for up front (`prefetch`) are fetched
 * in `success.fetchingResults`, under the `settled` tag, so that tag alone would end a solve
 * before its files.
 */
export function isSettled(snapshot: Pick<SolveViewSource, 'context' | 'hasTag'>): boolean {
  return snapshot.hasTag('settled') && snapshot.context.fetchQueue.length === 0;
}

/** A solve as a caller sees it (see `SolveView`); `null` (no solve yet) is the idle view. */
export function viewOf(snapshot: SolveViewSource | null | undefined): SolveView {
  if (!snapshot) return IDLE_VIEW;
  const { context } = snapshot;
  const outcomeKnown = snapshot.hasTag('settled');
  return {
    state: stateName(snapshot.value),
    stage: stageOf(snapshot),
    phase: !outcomeKnown ? (snapshot.hasTag('idle') ? 'idle' : 'running') : context.error ? 'failure' : 'success',
    settled: isSettled(snapshot),
    upload: context.uploadProgress,
    subid: context.subid,
    jobId: context.jobId,
    hash: context.hash,
    calibration: context.results.calibration ?? null,
    files: context.results.files ?? {},
    error: context.error ? reviveError(context.error) : null,
    timings: timingsOf(context.stages),
    retrying: context.recovery.retrying ?? null,
    hints: context.upload?.hints ?? null,
  };
}
