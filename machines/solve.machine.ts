/**
 * One solve's lifecycle, from the API key to the files, as an explicit statechart.
 *
 *   idle → loggingIn → uploading → submissionPending → jobRunning → success ⇄ fetchingResults
 *                                                                 ↘ failure ⇄ fetchingResults
 *
 * Every request is an invoked actor, started by entering its state and aborted by leaving it;
 * nothing else in the library talks to the server. The actors here are typed placeholders: a
 * runtime (transport, session, clock) is supplied with `provideSolveRuntime()` from
 * `src/solve-runtime.ts`, so the same chart runs on undici, on fetch, or on test fakes.
 *
 * Waits between polls are an invoked `waitForNextPoll` actor that sleeps until a time kept in
 * context, not an `after` delay, because a restored snapshot re-arms invoked actors but loses
 * `after` timers. The context holds no secret and no file bytes in transit.
 */
import { assign, enqueueActions, fromPromise, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import { redact, type SerializedError } from '../src/errors.js';
import { notProvided, serialiseError, sessionExpiredOnce } from '../src/machine-support.js';
import type { UploadDescriptor } from '../src/inputs.js';
import type { Annotation, Calibration, JobInfo, JobStatus, SubmissionStatus, UploadResult } from '../src/models.js';
import type { WireUploadOptions } from '../src/options.js';
import { pollDelay, type PollSchedule } from '../src/polling.js';
import type { FileResultKind, ResultFile, ResultKind } from '../src/protocol/results.js';
import { isFileResultKind, isResultKind } from '../src/protocol/results.js';

/** A result a consumer asks for. `nbright` applies to annotations only. */
export interface ResultRequest {
  kind: ResultKind;
  nbright?: number;
}

/** Every result retrieved so far; each is fetched at most once. */
export interface ResultCache {
  calibration?: Calibration;
  info?: JobInfo;
  tags?: string[];
  machineTags?: string[];
  objectsInField?: string[];
  /** Keyed by `nbright` (`"all"` without it). */
  annotations?: Record<string, Annotation[]>;
  files?: Partial<Record<FileResultKind, ResultFile>>;
}

export type FetchedResult =
  | { kind: 'calibration'; value: Calibration }
  | { kind: 'info'; value: JobInfo }
  | { kind: 'tags' | 'machineTags' | 'objectsInField'; value: string[] }
  | { kind: 'annotations'; nbright?: number; value: Annotation[] }
  | { kind: FileResultKind; value: ResultFile };

/** The stages a person sees, with when each began (epoch ms). */
export type Stage = 'loggingIn' | 'uploading' | 'submissionPending' | 'jobRunning' | 'success' | 'failure';

export interface SolveContext {
  /** What to upload; `null` when the solve was resumed from a subid or job id. */
  upload: UploadDescriptor | null;
  options: WireUploadOptions;
  subid: number | null;
  /** SHA-1 of the uploaded bytes, as the server reported it. */
  hash: string | null;
  jobId: number | null;
  /** Job ids that answered 404 (re-created by a worker restart): never polled again. */
  lostJobIds: number[];
  submission: SubmissionStatus | null;
  jobStatus: JobStatus | null;
  results: ResultCache;
  /** Results asked for and not yet fetched, in order. */
  fetchQueue: ResultRequest[];
  /** The last failure of a result fetch, by cache key; the solve itself is unaffected. */
  resultErrors: Record<string, SerializedError>;
  error: SerializedError | null;
  schedule: PollSchedule;
  /** Epoch ms after which waiting ends in a timeout; `null` for no deadline. */
  deadline: number | null;
  timeoutMs: number | null;
  /** Polls made in the current phase, for the backoff. */
  pollCount: number;
  /** Epoch ms of the next poll. */
  nextPollAt: number;
  /** Epoch ms of the last poll: POLL_NOW never polls closer to it than the schedule's minimum. */
  lastPollAt: number;
  /** Logins forced by an expired session during this solve (one retry allowed). */
  relogins: number;
  uploadProgress: { sentBytes: number; totalBytes: number | null } | null;
  stages: Partial<Record<Stage, number>>;
  /** Results fetched as soon as the job is solved, before `success` is entered. */
  prefetch: ResultRequest[];
  /** Set when a batch runs this solve: it is told `SOLVE_SETTLED` on success and failure. */
  batchItemId: string | null;
}

export interface SolveMachineInput {
  upload?: UploadDescriptor;
  options?: WireUploadOptions;
  /** Resume at the submission: no upload. */
  subid?: number;
  /** Resume at the job: no upload, no submission polling. */
  jobId?: number;
  schedule: PollSchedule;
  /** Overall deadline from START; `null` or omitted for none. */
  timeoutMs?: number | null;
  /** Results to fetch right after the calibration, e.g. the WCS file. */
  prefetch?: ResultRequest[];
  /** The id a parent batch knows this solve by. */
  batchItemId?: string;
}

/** What a solve tells the batch that spawned it. */
export interface SolveSettledEvent {
  type: 'SOLVE_SETTLED';
  itemId: string;
}

export type SolveEvent =
  | { type: 'START' }
  | { type: 'CANCEL'; reason?: string }
  | { type: 'POLL_NOW' }
  | ({ type: 'FETCH' } & ResultRequest)
  | { type: 'UPLOAD_PROGRESS'; sentBytes: number; totalBytes: number | null };

export interface UploadActorInput {
  upload: UploadDescriptor;
  options: WireUploadOptions;
  /** Set when this actor was restored from a snapshot: the upload may already be on the server. */
  restored?: boolean;
}

export interface WaitInput {
  until: number;
  deadline: number | null;
}

const PROVIDER = 'provideSolveRuntime';

/** The key a result is cached under. */
export function resultKey(request: ResultRequest): string {
  return request.kind === 'annotations' ? `annotations:${request.nbright ?? 'all'}` : request.kind;
}

export function cachedResult(results: ResultCache, request: ResultRequest): unknown {
  if (isFileResultKind(request.kind)) return results.files?.[request.kind];
  if (request.kind === 'annotations') return results.annotations?.[String(request.nbright ?? 'all')];
  return results[request.kind];
}

function serialise(error: unknown, context: SolveContext): SerializedError {
  const base = serialiseError(error);
  if (base.subid === undefined && context.subid !== null) base.subid = context.subid;
  if (base.jobId === undefined && context.jobId !== null) base.jobId = context.jobId;
  return base;
}

function failure(context: SolveContext, name: string, code: SerializedError['code'], message: string): SerializedError {
  return serialise({ toJSON: () => ({ name, code, message }) }, context);
}

function firstLiveJob(submission: SubmissionStatus, lost: readonly number[]): number | undefined {
  return submission.jobs.find((j): j is number => j !== null && !lost.includes(j));
}


const solveSetup = setup({
  types: {
    context: {} as SolveContext,
    events: {} as SolveEvent,
    input: {} as SolveMachineInput,
  },
  actors: {
    /** POST /api/login (skipped when the client already holds a session). */
    login: fromPromise<void, void>(notProvided('login', PROVIDER)),
    /** POST /api/upload or /api/url_upload. Never retried once its body may have arrived. */
    upload: fromPromise<UploadResult, UploadActorInput>(notProvided('upload', PROVIDER)),
    /** GET /api/submissions/<subid>. */
    readSubmission: fromPromise<SubmissionStatus, { subid: number }>(notProvided('readSubmission', PROVIDER)),
    /** GET /api/jobs/<jobid>. */
    readJob: fromPromise<JobStatus, { jobId: number }>(notProvided('readJob', PROVIDER)),
    /** GET /api/jobs/<jobid>/calibration. */
    readCalibration: fromPromise<Calibration | undefined, { jobId: number }>(notProvided('readCalibration', PROVIDER)),
    /** GET a JSON result or a result file of a job. */
    fetchResult: fromPromise<FetchedResult, { jobId: number; request: ResultRequest }>(notProvided('fetchResult', PROVIDER)),
    /** No request: sleeps until the next poll or the deadline, whichever is first. */
    waitForNextPoll: fromPromise<void, WaitInput>(notProvided('waitForNextPoll', PROVIDER)),
  },
  guards: {
    hasSession: () => false,
    resumesAtJob: ({ context }) => context.jobId !== null,
    resumesAtSubmission: ({ context }) => context.subid !== null,
    sessionExpiredOnce: ({ context, event }) => sessionExpiredOnce(context.relogins, event),
    mayPollNow: ({ context }) => Date.now() >= context.lastPollAt + context.schedule.minIntervalMs,
    // The wait ends at the deadline when the next poll falls on or after it: decided by the
    // schedule, not by whether a timer fired a millisecond early.
    pastDeadline: ({ context }) =>
      context.deadline !== null && (context.nextPollAt >= context.deadline || Date.now() >= context.deadline),
    jobLostWithSubmission: ({ context, event }) =>
      context.subid !== null && (event as { error?: { code?: string } }).error?.code === 'not_found',
    hasJobToFetchFrom: ({ context }) => context.jobId !== null,
    isUnknownKind: ({ event }) => !isResultKind(String((event as { kind?: unknown }).kind)),
    isCachedOrQueued: ({ context, event }) => {
      const request = event as ResultRequest;
      return (
        cachedResult(context.results, request) !== undefined ||
        context.fetchQueue.some((q) => resultKey(q) === resultKey(request))
      );
    },
    moreToFetch: ({ context }) => context.fetchQueue.length > 1,
    solved: ({ context }) => context.error === null,
  },
  actions: {
    startClock: assign({
      deadline: ({ context }) => (context.timeoutMs === null ? null : Date.now() + context.timeoutMs),
    }),
    schedulePoll: assign({
      nextPollAt: ({ context }) => Date.now() + pollDelay(context.schedule, context.pollCount),
      pollCount: ({ context }) => context.pollCount + 1,
    }),
    resetPolling: assign({ pollCount: 0 }),
    notePoll: assign({ lastPollAt: () => Date.now() }),
    recordError: assign({ error: ({ context, event }) => serialise((event as { error?: unknown }).error, context) }),
    recordTimeout: assign({
      error: ({ context }) =>
        failure(context, 'TimeoutError', 'timeout', `The solve did not finish within ${context.timeoutMs} ms.`),
    }),
    recordCancel: assign({
      error: ({ context, event }) =>
        failure(context, 'AbortedError', 'aborted', (event as { reason?: string }).reason ?? 'The solve was cancelled.'),
    }),
    enqueueFetch: assign({
      fetchQueue: ({ context, event }) => {
        const { kind, nbright } = event as ResultRequest;
        return [...context.fetchQueue, nbright === undefined ? { kind } : { kind, nbright }];
      },
    }),
    // Only the first entry counts: success is re-entered after every later download.
    stamp: assign({
      stages: ({ context }, params: { stage: Stage }) =>
        context.stages[params.stage] === undefined ? { ...context.stages, [params.stage]: Date.now() } : context.stages,
    }),
    storeResult: assign({
      results: ({ context, event }) => storeFetched(context.results, (event as unknown as { output: FetchedResult }).output),
      resultErrors: ({ context }) => {
        const { [resultKey(context.fetchQueue[0] as ResultRequest)]: _cleared, ...rest } = context.resultErrors;
        return rest;
      },
    }),
    recordResultError: assign({
      resultErrors: ({ context, event }) => ({
        ...context.resultErrors,
        [resultKey(context.fetchQueue[0] as ResultRequest)]: serialise((event as { error?: unknown }).error, context),
      }),
    }),
    dequeue: assign({ fetchQueue: ({ context }) => context.fetchQueue.slice(1) }),
    notifySettled: enqueueActions(({ context, enqueue }) => {
      if (context.batchItemId !== null) enqueue.sendParent({ type: 'SOLVE_SETTLED', itemId: context.batchItemId } satisfies SolveSettledEvent);
    }),
    /** Frees the bytes of an in-memory input once the server has them (or never will). Runtime-provided. */
    releaseUpload: enqueueActions(() => undefined),
  },
});

/** The wait between two polls, the same in both polling phases. */
const waitingToPoll = solveSetup.createStateConfig({
  description: 'No request: sleeps until context.nextPollAt (or the deadline).',
  invoke: {
    id: 'waitForNextPoll',
    src: 'waitForNextPoll',
    input: ({ context }) => ({ until: context.nextPollAt, deadline: context.deadline }),
    onDone: [{ guard: 'pastDeadline', target: '#solve.failure', actions: 'recordTimeout' }, { target: 'reading' }],
  },
  // An early poll asked for by a caller still keeps the minimum distance between polls.
  on: { POLL_NOW: { guard: 'mayPollNow', target: 'reading' } },
});

export const solveMachine = solveSetup.createMachine({
  id: 'solve',
  context: ({ input }) => ({
    upload: input.upload ?? null,
    options: input.options ?? {},
    subid: input.subid ?? null,
    hash: null,
    jobId: input.jobId ?? null,
    lostJobIds: [],
    submission: null,
    jobStatus: null,
    results: {},
    fetchQueue: [],
    resultErrors: {},
    error: null,
    schedule: input.schedule,
    deadline: null,
    timeoutMs: input.timeoutMs ?? null,
    pollCount: 0,
    nextPollAt: 0,
    lastPollAt: 0,
    relogins: 0,
    uploadProgress: null,
    stages: {},
    prefetch: input.prefetch ?? [],
    batchItemId: input.batchItemId ?? null,
  }),
  initial: 'idle',
  states: {
    idle: {
      description: 'Nothing requested yet; START begins or resumes the solve.',
      on: {
        START: [
          { guard: 'resumesAtJob', target: 'jobRunning', actions: 'startClock' },
          { guard: 'resumesAtSubmission', target: 'submissionPending', actions: 'startClock' },
          { guard: 'hasSession', target: 'uploading', actions: 'startClock' },
          { target: 'loggingIn', actions: 'startClock' },
        ],
        CANCEL: { target: 'failure', actions: 'recordCancel' },
      },
    },
    loggingIn: {
      description: 'POST /api/login',
      entry: { type: 'stamp', params: { stage: 'loggingIn' } },
      invoke: {
        id: 'login',
        src: 'login',
        onDone: 'uploading',
        onError: { target: 'failure', actions: 'recordError' },
      },
      on: { CANCEL: { target: 'failure', actions: 'recordCancel' } },
    },
    uploading: {
      description: 'POST /api/upload or /api/url_upload',
      entry: [{ type: 'stamp', params: { stage: 'uploading' } }, assign({ uploadProgress: null })],
      invoke: {
        id: 'upload',
        src: 'upload',
        input: ({ context }) => ({ upload: context.upload as UploadDescriptor, options: context.options }),
        onDone: {
          target: 'submissionPending',
          actions: assign({
            subid: ({ event }) => event.output.subid,
            hash: ({ event }) => event.output.hash ?? null,
          }),
        },
        onError: [
          // The server rejected the session before storing anything: logging in again and
          // sending the upload once more cannot duplicate it.
          { guard: 'sessionExpiredOnce', target: 'loggingIn', actions: assign({ relogins: ({ context }) => context.relogins + 1 }) },
          { target: 'failure', actions: 'recordError' },
        ],
      },
      on: {
        UPLOAD_PROGRESS: {
          actions: assign({ uploadProgress: ({ event }) => ({ sentBytes: event.sentBytes, totalBytes: event.totalBytes }) }),
        },
        CANCEL: { target: 'failure', actions: 'recordCancel' },
      },
    },
    submissionPending: {
      description: 'The server is ingesting the upload; polls the submission until a job id appears.',
      entry: [{ type: 'stamp', params: { stage: 'submissionPending' } }, 'releaseUpload', 'resetPolling', 'schedulePoll'],
      initial: 'waiting',
      on: { CANCEL: { target: 'failure', actions: 'recordCancel' } },
      states: {
        waiting: waitingToPoll,
        reading: {
          description: 'GET /api/submissions/:subid',
          entry: 'notePoll',
          invoke: {
            id: 'readSubmission',
            src: 'readSubmission',
            input: ({ context }) => ({ subid: context.subid as number }),
            onDone: [
              {
                guard: ({ event }) => event.output.error_message !== undefined,
                target: '#solve.failure',
                actions: assign({
                  submission: ({ event }) => event.output,
                  error: ({ context, event }) =>
                    failure(context, 'SubmissionFailedError', 'submission_failed', `Submission ${context.subid} failed on the server: ${redact(event.output.error_message as string)}`),
                }),
              },
              {
                guard: ({ context, event }) => firstLiveJob(event.output, context.lostJobIds) !== undefined,
                target: '#solve.jobRunning',
                actions: assign({
                  submission: ({ event }) => event.output,
                  jobId: ({ context, event }) => firstLiveJob(event.output, context.lostJobIds) as number,
                }),
              },
              { target: 'waiting', reenter: true, actions: [assign({ submission: ({ event }) => event.output }), 'schedulePoll'] },
            ],
            onError: { target: '#solve.failure', actions: 'recordError' },
          },
        },
      },
    },
    jobRunning: {
      description: 'A job is solving; polls only the job, then reads its calibration.',
      entry: [{ type: 'stamp', params: { stage: 'jobRunning' } }, 'resetPolling'],
      initial: 'reading',
      on: { CANCEL: { target: 'failure', actions: 'recordCancel' } },
      states: {
        waiting: waitingToPoll,
        reading: {
          description: 'GET /api/jobs/:jobid',
          entry: 'notePoll',
          invoke: {
            id: 'readJob',
            src: 'readJob',
            input: ({ context }) => ({ jobId: context.jobId as number }),
            onDone: [
              { guard: ({ event }) => event.output === 'success', target: 'readingCalibration', actions: assign({ jobStatus: 'success' }) },
              {
                guard: ({ event }) => event.output === 'failure' || event.output === '?',
                target: '#solve.failure',
                actions: assign({
                  jobStatus: ({ event }) => event.output,
                  error: ({ context, event }) =>
                    failure(context, 'JobFailedError', 'job_failed', `Job ${context.jobId} found no solution (status "${event.output}").`),
                }),
              },
              { target: 'waiting', actions: [assign({ jobStatus: ({ event }) => event.output }), 'schedulePoll'] },
            ],
            onError: [
              {
                // nova re-creates unfinished jobs under new ids after a worker restart; the
                // submission names the new one.
                guard: 'jobLostWithSubmission',
                target: '#solve.submissionPending',
                actions: assign({
                  lostJobIds: ({ context }) => [...context.lostJobIds, context.jobId as number],
                  jobId: null,
                  jobStatus: null,
                }),
              },
              { target: '#solve.failure', actions: 'recordError' },
            ],
          },
        },
        readingCalibration: {
          description: 'GET /api/jobs/:jobid/calibration',
          invoke: {
            id: 'readCalibration',
            src: 'readCalibration',
            input: ({ context }) => ({ jobId: context.jobId as number }),
            onDone: [
              {
                guard: ({ context, event }) => event.output !== undefined && context.prefetch.length > 0,
                target: '#solve.fetchingResults',
                actions: assign({
                  results: ({ context, event }) => ({ ...context.results, calibration: event.output as Calibration }),
                  fetchQueue: ({ context }) => context.prefetch,
                }),
              },
              {
                guard: ({ event }) => event.output !== undefined,
                target: '#solve.success',
                actions: assign({ results: ({ context, event }) => ({ ...context.results, calibration: event.output as Calibration }) }),
              },
              {
                target: '#solve.failure',
                actions: assign({
                  error: ({ context }) =>
                    failure(context, 'JobFailedError', 'job_failed', `Job ${context.jobId} reported success but has no calibration.`),
                }),
              },
            ],
            onError: { target: '#solve.failure', actions: 'recordError' },
          },
        },
      },
    },
    success: {
      description: 'Solved, calibration cached. FETCH asks for another result.',
      tags: ['settled'],
      entry: [{ type: 'stamp', params: { stage: 'success' } }, 'notifySettled'],
      on: {
        FETCH: [{ guard: 'isUnknownKind' }, { guard: 'isCachedOrQueued' }, { target: 'fetchingResults', actions: 'enqueueFetch' }],
      },
    },
    failure: {
      description: "Ended with context.error (code, subid, jobId). FETCH still reads a failed job's files.",
      tags: ['settled'],
      entry: [{ type: 'stamp', params: { stage: 'failure' } }, 'releaseUpload', 'notifySettled'],
      on: {
        // A failed job still has a log and an axy file worth reading.
        FETCH: [
          { guard: 'isUnknownKind' },
          { guard: 'isCachedOrQueued' },
          { guard: 'hasJobToFetchFrom', target: 'fetchingResults', actions: 'enqueueFetch' },
        ],
      },
    },
    fetchingResults: {
      description: 'GET each queued result once (JSON or file); cached in context.results.',
      tags: ['settled'],
      invoke: {
        id: 'fetchResult',
        src: 'fetchResult',
        input: ({ context }) => ({ jobId: context.jobId as number, request: context.fetchQueue[0] as ResultRequest }),
        onDone: [
          { guard: 'moreToFetch', target: 'fetchingResults', reenter: true, actions: ['storeResult', 'dequeue'] },
          { guard: 'solved', target: 'success', actions: ['storeResult', 'dequeue'] },
          { target: 'failure', actions: ['storeResult', 'dequeue'] },
        ],
        onError: [
          { guard: 'moreToFetch', target: 'fetchingResults', reenter: true, actions: ['recordResultError', 'dequeue'] },
          { guard: 'solved', target: 'success', actions: ['recordResultError', 'dequeue'] },
          { target: 'failure', actions: ['recordResultError', 'dequeue'] },
        ],
      },
      on: {
        FETCH: [{ guard: 'isUnknownKind' }, { guard: 'isCachedOrQueued' }, { actions: 'enqueueFetch' }],
        CANCEL: [
          { guard: 'solved', target: 'success', actions: assign({ fetchQueue: [] }) },
          { target: 'failure', actions: assign({ fetchQueue: [] }) },
        ],
      },
    },
  },
});

function storeFetched(results: ResultCache, fetched: FetchedResult): ResultCache {
  if (isFileResultKind(fetched.kind)) {
    return { ...results, files: { ...results.files, [fetched.kind]: fetched.value as ResultFile } };
  }
  if (fetched.kind === 'annotations') {
    const key = String((fetched as { nbright?: number }).nbright ?? 'all');
    return { ...results, annotations: { ...results.annotations, [key]: fetched.value as Annotation[] } };
  }
  return { ...results, [fetched.kind]: fetched.value };
}

export type SolveActor = ActorRefFrom<typeof solveMachine>;
export type SolveSnapshot = SnapshotFrom<typeof solveMachine>;
