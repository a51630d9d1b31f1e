/**
 * The solve machine as a child of someone else's statechart: the same states and requests as
 * `solve.machine.ts`, with three differences a parent needs.
 *
 *   idle ─(at once)→ loggingIn → uploading → submissionPending → jobRunning → success → solved (final, output)
 *                                                                           ↘ failure: the actor errors
 *
 * - It starts by itself: `idle` takes the START branch at once (an invoked child gets no START).
 * - `success` ends in the final state `solved` once the prefetched results are in, so the
 *   parent's `onDone` gets the root `output` (subid, job id, calibration, files).
 * - `failure` throws the solve's typed error from its entry, so the actor errors with it and the
 *   parent's `onError` receives it (an `AstrometryNetError` subclass with `code`, `subid`, `jobId`).
 *
 * Its machine id is `childSolve` (the solve machine's `#solve.…` targets are pointed at it), so
 * inspectors that draw machines by id keep the two apart.
 *
 * A final state cannot answer FETCH: results wanted later are fetched by job id
 * (`client.job(output.jobId)`), results wanted at once are listed in `prefetch`.
 *
 * The chart is built by a factory because its input is converted by the caller: the public input
 * (a path, bytes, a Blob…) becomes an upload descriptor where the session's memory store is
 * reachable, so bytes stay out of the context and out of every snapshot.
 */
import type { StateMachine } from 'xstate';
import { reviveError, type SerializedError } from '../src/errors.js';
import { viewOf } from '../src/client/solve-view.js';
import type { Calibration } from '../src/protocol/models.js';
import type { FileResultKind, ResultFile } from '../src/protocol/result-kinds.js';
import { systemClock, type Clock } from '../src/tasks/clock.js';
import { createSolveMachine, createSolveSetup, initialContext, solveMachine as systemSolveMachine, type ResultCache, type SolveContext, type SolveMachineInput } from './solve.machine.js';

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

/** Its own id, so an inspector that draws machines by id never mistakes it for the solve machine. */
const ID = 'childSolve';

/** The solve machine's config with its `#solve.…` targets pointed at this machine's id. */
function retarget<T>(value: T): T {
  if (typeof value === 'string') return (value.startsWith('#solve.') ? `#${ID}.${value.slice('#solve.'.length)}` : value) as T;
  if (Array.isArray(value)) return value.map(retarget) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, retarget(v)])) as T;
  }
  return value;
}


/** The output, computed in the final state `solved` (tagged `settled`): the solve's view, and the JSON results. */
function outputOf(context: SolveContext): ChildSolveOutput {
  const view = viewOf({ value: 'solved', context, hasTag: (tag) => tag === 'settled' });
  const { calibration: _calibration, files: _files, ...results } = context.results;
  return {
    subid: view.subid,
    jobId: view.jobId as number,
    hash: view.hash,
    calibration: view.calibration as Calibration,
    files: view.files,
    results,
    resultErrors: context.resultErrors,
  };
}

/**
 * The solve machine as a child, whose input `TInput` becomes the solve's input through `toInput`
 * (which may throw a ValidationError). `now` is the clock it reads, as in `createSolveMachine`.
 */
export function createChildSolveMachine<TInput>(toInput: (input: TInput) => SolveMachineInput, now: Clock = systemClock) {
  const base = now === systemClock ? systemSolveMachine : createSolveMachine(now);
  const states = retarget(base.config.states as NonNullable<typeof base.config.states>);
  const startBranches = (states.idle as { on: { START: unknown } }).on.START;
  const machine = createSolveSetup(now).createMachine({
    id: ID,
    context: ({ input }) => initialContext({ input: toInput(input as unknown as TInput) }),
    initial: 'idle',
    states: {
      ...states,
      idle: {
        description: 'Starts at once (or resumes at the submission or the job), like START in the solve machine.',
        always: startBranches as never,
      },
      success: {
        ...(states.success as object),
        states: {
          ...(states.success as { states: object }).states,
          ready: { description: 'The prefetched results are in.', always: `#${ID}.solved` },
        },
      },
      solved: {
        description: "Final: the parent's onDone gets the output (subid, jobId, calibration, files).",
        type: 'final',
        tags: ['settled'],
      },
      failure: {
        description: "The actor errors with the solve's typed error (code, subid, jobId): the parent's onError gets it.",
        tags: ['settled'],
        entry: [
          { type: 'stamp', params: { stage: 'failure' } },
          'releaseUpload',
          ({ context }) => {
            throw reviveError(context.error as SerializedError);
          },
        ],
      },
    },
    output: ({ context }) => outputOf(context),
  });
  return machine as unknown as WithInputOutput<typeof machine, TInput, ChildSolveOutput>;
}

/** A machine type with its input and output replaced (the chart is typed against the solve machine's). */
type WithInputOutput<M, I, O> =
  M extends StateMachine<infer C, infer E, infer Ch, infer A, infer Ac, infer G, infer D, infer SV, infer T, any, any, infer Em, infer Me, infer SS, infer TM>
    ? StateMachine<C, E, Ch, A, Ac, G, D, SV, T, I, O, Em, Me, SS, TM>
    : never;
