/**
 * The solve as a child of someone else's statechart. It invokes the solve machine itself and
 * turns its two settled outcomes into what a parent's `invoke` understands:
 *
 *   solving (invokes the solve machine, sends it START) ──success, results in──▶ solved (final, output)
 *                                                       ──failure──▶ the actor errors with the typed error
 *
 * - The solve machine never ends by itself (a settled solve still answers FETCH); this one follows
 *   it through its snapshots (the invoke's `onSnapshot`) and ends when the solve is settled with nothing in
 *   flight, so the parent's `onDone` gets `output` (subid, job id, calibration, files).
 * - A failed solve throws its typed error from a transition action: the actor errors with it and the
 *   parent's `onError` receives it (an `AstrometryNetError` subclass with `code`, `subid`, `jobId`).
 * - CANCEL is passed on to the solve.
 * - Beside the solve it invokes `lifetime`, a callback actor that lives exactly as long as this
 *   actor. Its start, the first or one after a restored snapshot, sends `LIFETIME_STARTED`: after a
 *   restore the solve gets `RESTORED` and takes a fresh deadline (the time the process was stopped
 *   is not the solve's fault). Its stop (final, error, or the parent leaving the invoking state) is
 *   where the provider frees what the input held, such as bytes kept in a memory store.
 *
 * A final state answers no FETCH: results wanted later are fetched by job id
 * (`client.job(output.jobId)`), results wanted at once are listed in `prefetch`.
 *
 * The chart is built by a factory because its input is converted by the caller: the public input
 * (a path, bytes, a Blob…) becomes an upload descriptor where the session's memory store is
 * reachable, so bytes stay out of the context and out of every snapshot.
 */
import { assign, fromCallback, sendTo, setup, type AnyActorLogic } from 'xstate';
import { reviveError, type SerializedError } from '../src/errors.js';
import { viewOf, type SolveView } from '../src/client/solve-view.js';
import type { Calibration } from '../src/protocol/models.js';
import type { FileResultKind, ResultFile } from '../src/protocol/result-kinds.js';
import { solveMachine, type ResultCache, type SolveMachineInput, type SolveSnapshot } from './solve.machine.js';

/** What the parent's `onDone` receives as `event.output`. */
export interface ChildSolveOutput {
  /** `null` when the solve was resumed from a job id alone. */
  subid: number | null;
  jobId: number;
  /** SHA-1 of the uploaded bytes, when the server reported it. */
  hash: string | null;
  calibration: Calibration;
  /** The files asked for in `prefetch`, by kind (bytes: keep them out of a context you persist). */
  files: Partial<Record<FileResultKind, ResultFile>>;
  /** The JSON results asked for in `prefetch` (info, tags, annotations…). */
  results: Omit<ResultCache, 'calibration' | 'files'>;
  /** Prefetched results that could not be read, by kind; the solve itself succeeded. */
  resultErrors: Record<string, SerializedError>;
}

/** Where the invoked solve stands, for a parent's screen: a part of its view (`viewOf`). */
export type ChildSolveProgress = Pick<SolveView, 'state' | 'stage' | 'upload' | 'subid' | 'jobId' | 'retrying'>;

export interface ChildSolveContext {
  /** The solve machine's input, converted (and validated) once when this actor was created. */
  solveInput: SolveMachineInput;
  /** Where the solve stands, updated with each of its snapshots: read it from the parent as `children.<id>.getSnapshot().context.progress`. */
  progress: ChildSolveProgress;
  /** Set by the first `LIFETIME_STARTED`: a later one means the actor was restored. */
  started: boolean;
  output: ChildSolveOutput | null;
}

/** What `lifetime` is given: the solve's input, whose held resources it frees when it stops. */
export interface LifetimeInput {
  solveInput: SolveMachineInput;
}

type SolveSnapshotEvent = { type: 'xstate.snapshot.solve'; snapshot: SolveSnapshot };
type ChildSolveEvent = SolveSnapshotEvent | { type: 'CANCEL'; reason?: string } | { type: 'LIFETIME_STARTED' };

/** Settled with nothing being fetched: the prefetched results are in (or the solve failed). */
const isDone = (snapshot: SolveSnapshot) => snapshot.hasTag('settled') && !snapshot.hasTag('fetching');

/** The output: the solve's view (the one projection callers see), and the JSON results. */
function outputOf(snapshot: SolveSnapshot): ChildSolveOutput {
  const view = viewOf(snapshot);
  const { calibration: _calibration, files: _files, ...results } = snapshot.context.results;
  return {
    subid: view.subid,
    jobId: view.jobId as number,
    hash: view.hash,
    calibration: view.calibration as Calibration,
    files: view.files,
    results,
    resultErrors: snapshot.context.resultErrors,
  };
}

function progressOf(snapshot: SolveSnapshot): ChildSolveProgress {
  const { state, stage, upload, subid, jobId, retrying } = viewOf(snapshot);
  return { state, stage, upload, subid, jobId, retrying };
}

/** The default `lifetime`: announces its start, holds nothing. Providers replace it to free resources on stop. */
export const announceLifetime = fromCallback<{ type: string }, LifetimeInput>(({ sendBack }) => {
  sendBack({ type: 'LIFETIME_STARTED' });
});

/**
 * The child solve, whose input `TInput` becomes the solve machine's input through `toInput`
 * (which may throw a ValidationError: the actor then errors before any request). Provide
 * `solve` (a solve machine with its tasks, e.g. `provideSolveTasks(deps)`) and, to free what an
 * input holds, `lifetime` (a callback actor that calls `sendBack({ type: 'LIFETIME_STARTED' })`
 * when it starts and frees on cleanup).
 */
export function createChildSolveMachine<TInput>(toInput: (input: TInput) => SolveMachineInput) {
  return setup({
    types: {
      input: {} as TInput,
      output: {} as ChildSolveOutput,
      context: {} as ChildSolveContext,
      events: {} as ChildSolveEvent,
    },
    actors: { solve: solveMachine as AnyActorLogic as typeof solveMachine, lifetime: announceLifetime },
    guards: {
      solved: ({ event }) => isDone((event as SolveSnapshotEvent).snapshot) && (event as SolveSnapshotEvent).snapshot.context.error === null,
      failed: ({ event }) => isDone((event as SolveSnapshotEvent).snapshot) && (event as SolveSnapshotEvent).snapshot.context.error !== null,
      wasRestored: ({ context }) => context.started,
    },
    actions: {
      start: sendTo('solve', { type: 'START' }),
      forwardCancel: sendTo('solve', ({ event }) => event as { type: 'CANCEL'; reason?: string }),
      restoreSolve: sendTo('solve', { type: 'RESTORED' }),
      noteStarted: assign({ started: true }),
      keepOutput: assign({ output: ({ event }) => outputOf((event as SolveSnapshotEvent).snapshot) }),
      noteProgress: assign({ progress: ({ event }) => progressOf((event as SolveSnapshotEvent).snapshot) }),
      throwSolveError: ({ event }) => {
        throw reviveError((event as SolveSnapshotEvent).snapshot.context.error as SerializedError);
      },
    },
  }).createMachine({
    id: 'childSolve',
    context: ({ input }) => {
      const solveInput = toInput(input);
      const progress: ChildSolveProgress = { state: 'idle', stage: 'idle', upload: null, subid: solveInput.subid ?? null, jobId: solveInput.jobId ?? null, retrying: null };
      return { solveInput, progress, started: false, output: null };
    },
    invoke: { id: 'lifetime', src: 'lifetime', input: ({ context }) => ({ solveInput: context.solveInput }) },
    on: {
      LIFETIME_STARTED: [{ guard: 'wasRestored', actions: 'restoreSolve' }, { actions: 'noteStarted' }],
    },
    initial: 'solving',
    states: {
      solving: {
        description: 'Invokes the solve machine and sends it START; ends when it is settled with nothing in flight.',
        invoke: {
          id: 'solve',
          src: 'solve',
          input: ({ context }) => context.solveInput,
          onSnapshot: [
            { guard: 'solved', target: 'solved', actions: ['noteProgress', 'keepOutput'] },
            { guard: 'failed', actions: 'throwSolveError' },
            { actions: 'noteProgress' },
          ],
        },
        entry: 'start',
        on: { CANCEL: { actions: 'forwardCancel' } },
      },
      solved: {
        description: "Final: the parent's onDone gets the output (subid, jobId, calibration, files).",
        type: 'final',
      },
    },
    output: ({ context }) => context.output as ChildSolveOutput,
  });
}
