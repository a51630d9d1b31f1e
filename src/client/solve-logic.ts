/**
 * A solve a parent statechart can invoke with public types only:
 *
 *   const app = setup({ actors: { solve: createSolveLogic(client) } }).createMachine({ …
 *     invoke: { id: 'solve', src: 'solve', input: { input: 'm42.jpg' }, onDone: …, onError: … } });
 *
 * The logic is built per session, because the public input (bytes, a Blob, a stream) must be
 * kept in that session's memory store and referenced from the context, never copied into it: a
 * parent's persisted snapshot then holds a reference, not the file. Everything is validated
 * when the child is created, so bad input reaches the parent's `onError` before any request.
 */
import { fromCallback } from 'xstate';
import { createChildSolveMachine, type ChildSolveOutput, type LifetimeInput } from '../../machines/child-solve.machine.js';
import type { SolveMachineInput } from '../../machines/solve.machine.js';
import type { Client } from './client.js';
import { UploadInterruptedError, ValidationError, reviveError, type SerializedError } from '../errors.js';
import { acceptUpload, type SolveInput } from './solve-input.js';
import type { UploadOptions } from '../protocol/upload-options.js';
import { RESULT_KINDS, isResultKind, type ResultKind } from '../protocol/result-kinds.js';
import { checkTimeoutMs, type Session } from './session.js';
import type { PersistedSolve } from './started-solve.js';

/** What every form of the input may set. */
export interface SolveLogicCommon {
  /** The solve's deadline, ms from its start, every request included; `null` for none. Default: the client's. */
  timeoutMs?: number | null;
  /** Results fetched right after the calibration, before `onDone`: e.g. `['wcs']`. They arrive in the output. */
  prefetch?: readonly ResultKind[];
}

/**
 * The input of `createSolveLogic(client)`: the same as `client.solve` takes, or where to resume an
 * earlier solve (a persisted `StartedSolve`, a submission id or a job id) without uploading.
 */
export type SolveLogicInput = SolveLogicCommon &
  ({ input: SolveInput; options?: UploadOptions } | { resume: PersistedSolve } | { subid: number } | { jobId: number });

export type SolveLogicOutput = ChildSolveOutput;

/** The actor logic `createSolveLogic(client)` returns: invoke it, or `createActor` it. */
export type SolveLogic = ReturnType<typeof createChildSolveMachine<SolveLogicInput>>;

/**
 * The solve as actor logic for a parent machine, bound to a client's (or session's) server,
 * login and memory store. Invoked, it starts by itself; it ends in a final state whose output is
 * a {@link SolveLogicOutput}, or errors with a typed `AstrometryNetError` (code, subid, jobId).
 *
 * A final state answers no FETCH: list the results you want in `prefetch`, or fetch them later
 * with `client.job(output.jobId)`. Restored from a persisted parent snapshot (in this process or
 * another, with a new client), a running solve continues where it was, with a fresh deadline,
 * and never uploads again. Bytes given as `{ bytes }`, `{ blob }` or `{ stream }` are held by the
 * client only until the server has them, the solve fails, or the child is stopped.
 */
export function createSolveLogic(source: Client | Session): SolveLogic {
  const session = 'session' in source ? source.session : source;
  return createChildSolveMachine((input: SolveLogicInput) => toMachineInput(input, session)).provide({
    actors: {
      solve: session.machine,
      // A parent that leaves the invoking state stops the child with no transition of the solve's
      // own, so its releaseUpload never runs: the bytes of an in-memory input are dropped when the
      // child's lifetime ends, or a long-lived client would keep every file a user picked and then cancelled.
      lifetime: fromCallback<{ type: string }, LifetimeInput>(({ input, sendBack }) => {
        sendBack({ type: 'LIFETIME_STARTED' });
        const upload = input.solveInput.upload;
        return () => {
          if (upload?.kind === 'memory') session.memory.delete(upload.ref);
        };
      }),
    },
  });
}

function positiveId(name: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) throw new ValidationError(name, value, `a positive integer ${name === 'subid' ? 'submission' : 'job'} id`);
  return value as number;
}

/** The public input as the solve machine takes it; throws a ValidationError before any request. */
export function toMachineInput(input: SolveLogicInput, session: Session): SolveMachineInput {
  if (typeof input !== 'object' || input === null) {
    throw new ValidationError('input', input, '{ input, options?, timeoutMs?, prefetch? }, { resume }, { subid } or { jobId }');
  }
  const timeoutMs = input.timeoutMs === undefined ? session.timeoutMs : checkTimeoutMs(input.timeoutMs);
  if (input.prefetch !== undefined && !Array.isArray(input.prefetch)) throw new ValidationError('prefetch', input.prefetch, 'a list of result kinds');
  for (const kind of input.prefetch ?? []) if (!isResultKind(String(kind))) throw new ValidationError('prefetch', kind, `one of ${RESULT_KINDS.join(', ')}`);
  const common = { schedule: session.schedule, timeoutMs, prefetch: (input.prefetch ?? []).map((kind) => ({ kind })) };
  if ('input' in input) {
    return { ...common, ...acceptUpload(input.input, input.options, session.memory) };
  }
  if ('jobId' in input) return { ...common, jobId: positiveId('jobId', input.jobId) };
  if ('subid' in input) return { ...common, subid: positiveId('subid', input.subid) };
  if ('resume' in input) return { ...common, ...resumePoint(input.resume) };
  throw new ValidationError('input', input, '{ input, options?, timeoutMs?, prefetch? }, { resume }, { subid } or { jobId }');
}

/** Where a persisted solve picks up: at its job, at its submission, or (never sent) at the start. */
function resumePoint(persisted: PersistedSolve): Pick<SolveMachineInput, 'subid' | 'jobId' | 'upload' | 'options'> {
  if (persisted?.format !== 'astrometry-net-client/solve@1') throw new ValidationError('resume', persisted, 'what StartedSolve#persist() or Submission#persist() returned');
  const snapshot = persisted.snapshot as { value: unknown; context: { subid: number | null; jobId: number | null; error: SerializedError | null; upload: SolveMachineInput['upload'] | null; options: SolveMachineInput['options'] } };
  const { subid, jobId, error, upload, options } = snapshot.context;
  if (jobId !== null) return subid === null ? { jobId } : { jobId, subid };
  if (subid !== null) return { subid };
  if (error) throw reviveError(error);
  // Before the upload began, a path, URL or source list can still be sent; bytes held in
  // another process cannot, and an upload that began may have reached the server.
  const notSent = snapshot.value === 'idle' || snapshot.value === 'loggingIn';
  if (notSent && upload && upload.kind !== 'memory') return { upload, options };
  throw new UploadInterruptedError();
}
