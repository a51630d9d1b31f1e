/**
 * A started solve actor, seen from a facade: wait for a milestone, ask for a result, cancel,
 * persist. Facades hold no logic of their own beyond this; the machine decides everything.
 */
import { createActor, type Snapshot } from 'xstate';
import { cachedResult, resultKey, type ResultRequest, type SolveActor, type SolveSnapshot } from '../../machines/solve.machine.js';
import { AstrometryNetError, TimeoutError, ValidationError, reviveError } from '../errors.js';
import { isResultKind, RESULT_KINDS } from '../protocol/result-kinds.js';
import type { Session } from './session.js';

export type StateValue = SolveSnapshot['value'];

/** Milestones a facade waits for, asked of the snapshot by tag and context, not by state names. */
export const milestones = {
  /** The outcome is known: solved or failed. */
  settled: (s: SolveSnapshot) => s.hasTag('settled'),
  /** Settled, and no result download in flight (the prefetched files are in). */
  quiet: (s: SolveSnapshot) => s.hasTag('settled') && !s.hasTag('fetching'),
  /** The server has the upload (a submission id), or the solve ended without one. */
  submitted: (s: SolveSnapshot) => s.context.subid !== null || s.hasTag('settled'),
  /** A job is solving the submission, or the solve ended. */
  jobKnown: (s: SolveSnapshot) => s.context.jobId !== null || s.hasTag('settled'),
} as const;

/**
 * Where a solve in progress stands between its status reads, asked by tag and context: `polling`
 * (between reads, where POLL_NOW is answered) or `reading`, in the submission phase (no job id
 * yet) or the job phase.
 */
export const polls = {
  /** Waiting to read the submission again: POLL_NOW reads it now. */
  submissionWaiting: (s: SolveSnapshot) => s.hasTag('polling') && s.context.jobId === null,
  /** Reading the submission. */
  submissionReading: (s: SolveSnapshot) => s.hasTag('reading') && s.context.jobId === null,
  /** Waiting to read the job again: POLL_NOW reads it now. */
  jobWaiting: (s: SolveSnapshot) => s.hasTag('polling') && s.context.jobId !== null,
  /** Reading the job. */
  jobReading: (s: SolveSnapshot) => s.hasTag('reading') && s.context.jobId !== null,
} as const;

/** A dotted name for a state value: `jobRunning.waiting`. */
export function stateName(value: StateValue | string | Record<string, unknown>): string {
  if (typeof value === 'string') return value;
  const [key, child] = Object.entries(value)[0] as [string, StateValue | undefined];
  return child === undefined ? key : `${key}.${stateName(child)}`;
}

export interface WaitOptions {
  /** Cancels the solve (and the wait) when aborted. */
  signal?: AbortSignal;
  /** Stops waiting after this many ms with a TimeoutError; the solve itself goes on, so you can wait again. */
  timeoutMs?: number;
}

export class StartedSolve {
  readonly actor: SolveActor;

  constructor(session: Session, actorOptions: Parameters<typeof createActor<Session['machine']>>[1]) {
    this.actor = createActor(session.machine, { ...actorOptions, ...(session.inspect ? { inspect: session.inspect } : {}) } as typeof actorOptions);
    // With no observer for errors an actor error is rethrown globally and can kill Node.
    this.actor.subscribe({ error: () => undefined });
    this.actor.start();
  }

  get snapshot(): SolveSnapshot {
    return this.actor.getSnapshot();
  }

  /** Where the solve stands, e.g. `submissionPending.waiting`. */
  get state(): string {
    return stateName(this.snapshot.value);
  }

  /** Resolves with the first snapshot that satisfies `predicate`. */
  until(predicate: (s: SolveSnapshot) => boolean, options: WaitOptions = {}): Promise<SolveSnapshot> {
    return new Promise((resolve, reject) => {
      const check = (s: SolveSnapshot) => {
        if (!predicate(s)) return false;
        cleanup();
        resolve(s);
        return true;
      };
      const onAbort = () => {
        // Cancelling the wait cancels the solve: a caller who stops waiting stops paying.
        this.cancel(reasonOf(options.signal));
      };
      const sub = this.actor.subscribe({ next: (s) => void check(s), error: (e) => (cleanup(), reject(e)) });
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              cleanup();
              const { subid, jobId } = this.snapshot.context;
              reject(
                new TimeoutError(`Stopped waiting after ${options.timeoutMs} ms; the solve goes on (state ${stateName(this.snapshot.value)}).`, {
                  ...(subid !== null ? { subid } : {}),
                  ...(jobId !== null ? { jobId } : {}),
                }),
              );
            }, options.timeoutMs);
      const cleanup = () => {
        sub.unsubscribe();
        if (timer !== undefined) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      if (check(this.snapshot)) return;
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Resolves once the solve has settled: solved or failed (results may still be fetched after). */
  settled(options: WaitOptions = {}): Promise<SolveSnapshot> {
    return this.until(milestones.settled, options);
  }

  /** Waits for a milestone; throws the solve's error if the solve failed first. */
  async reach(milestone: (s: SolveSnapshot) => boolean, options: WaitOptions = {}): Promise<SolveSnapshot> {
    const s = await this.until(milestone, options);
    if (s.context.error) throw reviveError(s.context.error);
    return s;
  }

  /** A result of the job, fetched once and cached in the machine's context. */
  async fetch<T>(request: ResultRequest, options: WaitOptions = {}): Promise<T> {
    if (!isResultKind(String(request.kind))) {
      throw new ValidationError('kind', request.kind, `one of ${RESULT_KINDS.join(', ')}`);
    }
    const key = resultKey(request);
    const hit = cachedResult(this.snapshot.context.results, request);
    if (hit !== undefined) return hit as T;
    const before = this.snapshot.context.resultErrors[key];
    this.actor.send({ type: 'FETCH', ...request });
    const s = await this.until(
      (snap) =>
        cachedResult(snap.context.results, request) !== undefined ||
        (snap.context.resultErrors[key] !== undefined && snap.context.resultErrors[key] !== before) ||
        (!snap.hasTag('fetching') && !snap.context.fetchQueue.some((q) => resultKey(q) === key)),
      options,
    );
    const value = cachedResult(s.context.results, request);
    if (value !== undefined) return value as T;
    const error = s.context.resultErrors[key] ?? s.context.error;
    throw error ? reviveError(error) : new AstrometryNetError(`No ${request.kind} for this solve (state ${stateName(s.value)}).`);
  }

  /** Cancels the solve when `signal` aborts, for as long as the solve is in progress. */
  cancelOn(signal: AbortSignal | undefined): void {
    if (!signal) return;
    if (signal.aborted) return this.cancel(reasonOf(signal));
    const onAbort = () => this.cancel(reasonOf(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    const sub = this.actor.subscribe((s) => {
      if (s.hasTag('settled')) {
        signal.removeEventListener('abort', onAbort);
        sub.unsubscribe();
      }
    });
  }

  cancel(reason?: string): void {
    this.actor.send(reason === undefined ? { type: 'CANCEL' } : { type: 'CANCEL', reason });
  }

  /** A snapshot to store and restore later. Holds no secret; result files are left out (they can be fetched again). */
  persist(): PersistedSolve {
    const persisted = this.actor.getPersistedSnapshot() as Snapshot<unknown> & { context: SolveSnapshot['context'] };
    const { files: _files, ...results } = persisted.context.results;
    return { format: 'astrometry-net-client/solve@1', snapshot: { ...persisted, context: { ...persisted.context, results } } };
  }
}

/** What `persist()` returns: JSON-serialisable. */
export interface PersistedSolve {
  format: 'astrometry-net-client/solve@1';
  snapshot: unknown;
}

function reasonOf(signal: AbortSignal | undefined): string {
  const reason = signal?.reason as unknown;
  if (reason instanceof Error && reason.name !== 'AbortError') return `Cancelled: ${reason.message}`;
  return 'The solve was cancelled.';
}
