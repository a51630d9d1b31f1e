/**
 * One solve's lifecycle, from the API key to the files, as an explicit statechart.
 *
 *   idle → loggingIn → uploading → submissionPending → jobRunning → success  { ready ⇄ fetchingResults }
 *                                                                 ↘ failure  { ready ⇄ fetchingResults }
 *
 * Every request is an invoked actor, started by entering its state and aborted by leaving it;
 * nothing else in the library talks to the server. The actors here are typed placeholders: the
 * tasks (transport, login, clock) are supplied with `provideSolveTasks()` from
 * `src/tasks/solve-tasks.ts`, so the same chart runs on undici, on fetch, or on test fakes.
 *
 * The clock is a dependency too: no guard, action or input reads `Date`. `createSolveMachine(now)`
 * builds the chart on a clock (`provideSolveTasks` passes `MachineDependencies.now`), so a test
 * moves time by hand; `solveMachine` is the chart on the system clock.
 *
 * Waits between polls are an invoked `waitForNextPoll` actor that sleeps until a time kept in
 * context, not an `after` delay, because a restored snapshot re-arms invoked actors but loses
 * `after` timers. Every request carries the solve's deadline, so a stuck upload or poll ends in
 * a timeout too. The context holds no secret and no file bytes in transit.
 *
 * Tags, for facades to ask (`snapshot.hasTag('settled')`) instead of a list of state names:
 * - `idle`: nothing requested yet (before START).
 * - `polling`: between two status reads (`submissionPending.waiting`, `jobRunning.waiting`);
 *   POLL_NOW is answered there, with a read at once unless the last one is too recent.
 * - `reading`: a status read in flight (`submissionPending.reading`, `jobRunning.reading`).
 * - `settled`: the outcome is known (success or failure).
 * - `fetching`: results are being downloaded.
 * The context tells the two polling phases apart: `jobId` is `null` while the submission is
 * polled and set while the job is (a job lost to a worker restart clears it on the way back).
 */
import { and, assign, enqueueActions, fromPromise, setup, type ActorRefFrom, type AnyActorRef, type SnapshotFrom } from 'xstate';
import {
  AbortedError,
  JobFailedError,
  SubmissionFailedError,
  TimeoutError,
  serializeError,
  type AstrometryNetError,
  type SerializedError,
} from '../src/errors.js';
import type { UploadDescriptor } from '../src/client/solve-input.js';
import type { Annotation, Calibration, JobInfo, JobStatus, SubmissionStatus, UploadResult } from '../src/protocol/models.js';
import type { WireUploadOptions } from '../src/protocol/upload-options.js';
import { pollDelay, type PollSchedule } from '../src/tasks/polling.js';
import type { PollAnswer } from '../src/protocol/api.js';
import type { FileResultKind, ResultFile, ResultKind } from '../src/protocol/result-kinds.js';
import { isFileResultKind, isResultKind } from '../src/protocol/result-kinds.js';
import { systemClock, type Clock } from '../src/tasks/clock.js';

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

/**
 * What a snapshot can be asked with `hasTag`:
 * - `idle`: nothing requested yet.
 * - `polling`: between two status reads, of the submission or of the job; POLL_NOW is answered here.
 * - `reading`: a status read in flight (the submission's or the job's).
 * - `settled`: the outcome is known (success or failure).
 * - `fetching`: results are being downloaded.
 *
 * `polling` and `reading` come in both phases: `context.jobId === null` while the submission is
 * polled, a job id while the job is.
 */
export type SolveTag = 'idle' | 'polling' | 'reading' | 'settled' | 'fetching';

export interface SolveContext {
  /** The API URL of the server this solve uses; `null` until START chooses one. */
  server: string | null;
  /** What to upload; `null` when the solve was resumed from a subid or job id. */
  upload: UploadDescriptor | null;
  options: WireUploadOptions;
  subid: number | null;
  /** SHA-1 of the uploaded bytes, as the server reported it. */
  hash: string | null;
  jobId: number | null;
  submission: SubmissionStatus | null;
  jobStatus: JobStatus | null;
  results: ResultCache;
  /** Results asked for and not yet fetched, in order. */
  fetchQueue: ResultRequest[];
  /** The last failure of a result fetch, by cache key; the solve itself is unaffected. */
  resultErrors: Record<string, SerializedError>;
  error: SerializedError | null;
  /** Epoch ms after which waiting ends in a timeout; `null` for no deadline. */
  deadline: number | null;
  timeoutMs: number | null;
  polling: PollingState;
  recovery: Recovery;
  uploadProgress: { sentBytes: number; totalBytes: number | null } | null;
  stages: Partial<Record<Stage, number>>;
  /** Results fetched as soon as the job is solved, before anyone asks. */
  prefetch: ResultRequest[];
}

/** Where the polling of the current phase stands. */
export interface PollingState {
  schedule: PollSchedule;
  /** Epoch ms when the current polling phase began: the waits grow with the time since. */
  phaseStartedAt: number;
  /** Epoch ms of the next poll. */
  nextPollAt: number;
  /** Epoch ms of the last poll: POLL_NOW never polls closer to it than the schedule's minimum. */
  lastPollAt: number;
  /** The state token of the last status answer, when the server holds reads until it changes. */
  token: string | null;
  /** Seconds the server holds a status read (0: it does not, as on nova). */
  serverHoldsSeconds: number;
}

/** What the solve got over on its way, so that it never tries the same way out twice. */
export interface Recovery {
  /** Logins forced by an expired session during this solve (one retry allowed). */
  relogins: number;
  /** Job ids that answered 404 (re-created by a worker restart): never polled again. */
  lostJobIds: number[];
  /**
   * The token of the upload this solve last began. The tasks accept each token once, in the
   * process that issued it: an upload actor restored from a snapshot (whose body may already
   * be on the server) finds its token spent and fails with UploadInterruptedError.
   */
  uploadAttempt: string | null;
  /** The login or upload under way is being retried: why, and when it goes again. `null` otherwise. */
  retrying: RetryingNotice | null;
}

/**
 * @internal
 * The most top-level keys a context may have and stay fast. xstate copies the context with
 * `Object.assign({}, context, update)` on every assign, and V8 (Node 20) turns a copy with more
 * than 19 keys into a dictionary: each assign then costs about 20 times as much, and the solve
 * about twice the CPU. Related fields are grouped (`polling`, `recovery`) to stay under it.
 */
export const MAX_CONTEXT_KEYS = 19;

/**
 * @internal
 * A context persisted before `polling` and `recovery` grouped their fields (the same `solve@1`
 * format, written by 0.1.0 before this change), with its fields moved into the groups, so that
 * such a snapshot still restores. A current context is returned as it is.
 */
export function upgradeSolveContext<T>(context: T): T {
  if (context === null || typeof context !== 'object' || 'polling' in context) return context;
  const { schedule, phaseStartedAt, nextPollAt, lastPollAt, pollToken, serverHoldsSeconds, relogins, lostJobIds, ...rest } =
    context as Record<string, unknown>;
  const polling: PollingState = {
    schedule: schedule as PollSchedule,
    phaseStartedAt: (phaseStartedAt as number | undefined) ?? 0,
    nextPollAt: (nextPollAt as number | undefined) ?? 0,
    lastPollAt: (lastPollAt as number | undefined) ?? 0,
    token: (pollToken as string | null | undefined) ?? null,
    serverHoldsSeconds: (serverHoldsSeconds as number | undefined) ?? 0,
  };
  const recovery: Recovery = { relogins: (relogins as number | undefined) ?? 0, lostJobIds: (lostJobIds as number[] | undefined) ?? [], uploadAttempt: null, retrying: null };
  return { ...rest, polling, recovery } as T;
}

export interface SolveMachineInput {
  /** The server to use (a resumed solve keeps its own); chosen at START when absent. */
  server?: string | null;
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
}

export type SolveEvent =
  | { type: 'START' }
  | { type: 'CANCEL'; reason?: string }
  | { type: 'POLL_NOW' }
  /** The solve was restored from a persisted snapshot in a new run: its deadline starts again from now. */
  | { type: 'RESTORED' }
  | ({ type: 'FETCH' } & ResultRequest)
  | { type: 'UPLOAD_PROGRESS'; sentBytes: number; totalBytes: number | null }
  | ({ type: 'REQUEST_RETRYING' } & RetryingNotice);

/** A login or an upload that failed and will be tried again: what went wrong, and when. */
export interface RetryingNotice {
  /** What went wrong, for a person: `cannot reach nova.test: ECONNREFUSED`, `nova.test answered HTTP 503`. */
  problem: string;
  /** Attempts made so far. */
  attempt: number;
  /** When the next attempt goes (epoch ms, on the machine's clock). */
  retryAt: number;
}

/**
 * Where and until when a request may go: the solve's server, and its deadline (epoch ms), or a
 * result fetch's own.
 */
export interface Bounded {
  deadline: number | null;
  /** The API URL of the solve's server; `null`: the client's first. */
  server: string | null;
  /** The solve, told of retries (REQUEST_RETRYING) by a login or an upload. */
  progressTo?: AnyActorRef;
}

export interface UploadActorInput extends Bounded {
  upload: UploadDescriptor;
  options: WireUploadOptions;
  /** The token `markUploadAttempt` issued on entering `uploading` (see Recovery.uploadAttempt). */
  attempt: string | null;
  /** The solve, which the upload tells of its progress (UPLOAD_PROGRESS). */
  progressTo: AnyActorRef;
}

export interface StatusReadInput extends Bounded {
  /** The state token last seen, for a server that holds reads until the state changes. */
  seen: string | null;
}

export interface FetchResultInput extends Bounded {
  jobId: number;
  request: ResultRequest;
  /**
   * The job solved: every result file exists, so a page in place of one is the front end's and
   * is asked again until the deadline. After a failure a missing file is asked twice only.
   */
  solved: boolean;
}

export interface WaitInput {
  until: number;
  deadline: number | null;
}

const notProvided = (name: string) => async (): Promise<never> => {
  throw new Error(`The "${name}" actor has no implementation: create the machine with provideSolveTasks().`);
};

/** The key a result is cached under. */
export function resultKey(request: ResultRequest): string {
  return request.kind === 'annotations' ? `annotations:${request.nbright ?? 'all'}` : request.kind;
}

export function cachedResult(results: ResultCache, request: ResultRequest): unknown {
  if (isFileResultKind(request.kind)) return results.files?.[request.kind];
  if (request.kind === 'annotations') return results.annotations?.[String(request.nbright ?? 'all')];
  return results[request.kind];
}

/** An error as the context keeps it, with where the solve stood. */
function record(error: unknown, context: SolveContext): SerializedError {
  const base = serializeError(error);
  if (base.subid === undefined && context.subid !== null) base.subid = context.subid;
  if (base.jobId === undefined && context.jobId !== null) base.jobId = context.jobId;
  return base;
}

function firstLiveJob(submission: SubmissionStatus, lost: readonly number[]): number | undefined {
  return submission.jobs.find((j): j is number => j !== null && !lost.includes(j));
}

type ErrorEvent = { error?: unknown };
/** The output of the done event of an invoked actor, in a guard or action shared by several. */
const outputOf = <T>(event: unknown): T => (event as { output: T }).output;

/**
 * @internal
 * The solve machine's setup: its guards and actions read the time from `now`, never from `Date`.
 */
export function createSolveSetup(now: Clock) {
  return setup({
    types: {
      context: {} as SolveContext,
      events: {} as SolveEvent,
      input: {} as SolveMachineInput,
      tags: {} as SolveTag,
    },
    actors: {
      /** POST /api/login (no request when the client already holds a session). */
      login: fromPromise<void, Bounded>(notProvided('login')),
      /** POST /api/upload or /api/url_upload. Never retried once its body may have arrived. */
      upload: fromPromise<UploadResult, UploadActorInput>(notProvided('upload')),
      /** GET /api/submissions/<subid>. */
      readSubmission: fromPromise<PollAnswer<SubmissionStatus>, StatusReadInput & { subid: number }>(notProvided('readSubmission')),
      /** GET /api/jobs/<jobid>. */
      readJob: fromPromise<PollAnswer<JobStatus>, StatusReadInput & { jobId: number }>(notProvided('readJob')),
      /** GET /api/jobs/<jobid>/calibration. */
      readCalibration: fromPromise<Calibration | undefined, Bounded & { jobId: number }>(notProvided('readCalibration')),
      /** GET a JSON result or a result file of a job. */
      fetchResult: fromPromise<FetchedResult, FetchResultInput>(notProvided('fetchResult')),
      /** No request: sleeps until the next poll or the deadline, whichever is first. */
      waitForNextPoll: fromPromise<void, WaitInput>(notProvided('waitForNextPoll')),
    },
    guards: {
      hasSession: () => false,
      /** The server refused the connection and another one is up: choose it. Provided by the tasks. */
      serverUnreachable: () => false,
      resumesAtJob: ({ context }) => context.jobId !== null,
      resumesAtSubmission: ({ context }) => context.subid !== null,
      /** The server dropped the session (or none is held), and this solve has not logged in again yet. */
      sessionExpiredOnce: ({ context, event }) =>
        context.recovery.relogins === 0 && ((event as ErrorEvent).error as { name?: string } | undefined)?.name === 'SessionExpiredError',
      mayPollNow: ({ context }) => now() >= context.polling.lastPollAt + context.polling.schedule.minIntervalMs,
      pollDue: ({ context }) => context.polling.nextPollAt <= now() && (context.deadline === null || now() < context.deadline),
      // The wait ends at the deadline when the next poll falls on or after it: decided by the
      // schedule, not by whether a timer fired a millisecond early.
      pastDeadline: ({ context }) =>
        context.deadline !== null && (context.polling.nextPollAt >= context.deadline || now() >= context.deadline),
      submissionFailed: ({ event }) => outputOf<PollAnswer<SubmissionStatus>>(event).value.error_message !== undefined,
      jobAppeared: ({ context, event }) =>
        firstLiveJob(outputOf<PollAnswer<SubmissionStatus>>(event).value, context.recovery.lostJobIds) !== undefined,
      jobSolved: ({ event }) => outputOf<PollAnswer<JobStatus>>(event).value === 'success',
      jobFailed: ({ event }) => ['failure', '?'].includes(outputOf<PollAnswer<JobStatus>>(event).value),
      hasCalibration: ({ event }) => outputOf<Calibration | undefined>(event) !== undefined,
      hasPrefetch: ({ context }) => context.prefetch.length > 0,
      /** nova re-creates unfinished jobs under new ids after a worker restart; the submission names the new one. */
      jobLostWithSubmission: ({ context, event }) =>
        context.subid !== null && ((event as ErrorEvent).error as { code?: string } | undefined)?.code === 'not_found',
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
      /**
       * A request ended at a deadline that has since moved (the solve was restored and took a fresh
       * one, while the restored request still carried the old): it is asked again.
       */
      deadlineMovedOn: ({ context, event }) =>
        ((event as ErrorEvent).error as { code?: string } | undefined)?.code === 'timeout' && context.deadline !== null && now() < context.deadline,
    },
    actions: {
      startClock: assign({
        deadline: ({ context }) => (context.timeoutMs === null ? null : now() + context.timeoutMs),
      }),
      beginPhase: assign({ polling: ({ context }) => ({ ...context.polling, phaseStartedAt: now(), token: null }) }),
      /** After a held read, at once (never closer than the floor); otherwise a share of the time waited so far. */
      schedulePoll: assign({
        polling: ({ context: { polling } }) => ({
          ...polling,
          nextPollAt:
            polling.serverHoldsSeconds > 0
              ? Math.max(now(), polling.lastPollAt + polling.schedule.minIntervalMs)
              : now() + pollDelay(polling.schedule, now() - polling.phaseStartedAt),
        }),
      }),
      notePoll: assign({ polling: ({ context }) => ({ ...context.polling, lastPollAt: now() }) }),
      noteHold: assign({
        polling: ({ context, event }) => {
          const hold = outputOf<PollAnswer<unknown>>(event).hold;
          return { ...context.polling, token: hold?.token ?? null, serverHoldsSeconds: hold?.seconds ?? 0 };
        },
      }),
      recordError: assign({ error: ({ context, event }) => record((event as ErrorEvent).error, context) }),
      recordTimeout: assign({
        error: ({ context }) => record(new TimeoutError(`The solve did not finish within ${context.timeoutMs} ms.`), context),
      }),
      recordCancel: assign({
        error: ({ context, event }) => record(new AbortedError((event as { reason?: string }).reason ?? 'The solve was cancelled.'), context),
      }),
      recordSubmissionFailed: assign({
        submission: ({ event }) => outputOf<PollAnswer<SubmissionStatus>>(event).value,
        error: ({ context, event }) => {
          const message = outputOf<PollAnswer<SubmissionStatus>>(event).value.error_message as string;
          return record(new SubmissionFailedError(message, context.subid === null ? {} : { subid: context.subid }), context);
        },
      }),
      recordJobFailed: assign({
        jobStatus: ({ event }) => outputOf<PollAnswer<JobStatus>>(event).value,
        error: ({ context, event }) => {
          const { value, reason } = outputOf<PollAnswer<JobStatus>>(event);
          // serve can say why (the field's width is outside its installed index); nova never does.
          const why = reason ? ` ${reason}` : '';
          return record(new JobFailedError(`Job ${context.jobId} found no solution (status "${value}").${why}`), context);
        },
      }),
      recordNoCalibration: assign({
        error: ({ context }) => record(new JobFailedError(`Job ${context.jobId} reported success but has no calibration.`), context),
      }),
      enqueueFetch: assign({
        fetchQueue: ({ context, event }) => {
          const { kind, nbright } = event as ResultRequest;
          return [...context.fetchQueue, nbright === undefined ? { kind } : { kind, nbright }];
        },
      }),
      stamp: assign({
        stages: ({ context }, params: { stage: Stage }) => ({ ...context.stages, [params.stage]: now() }),
      }),
      storeResult: assign({
        results: ({ context, event }) => storeFetched(context.results, outputOf<FetchedResult>(event)),
        resultErrors: ({ context }) => {
          const { [resultKey(context.fetchQueue[0] as ResultRequest)]: _cleared, ...rest } = context.resultErrors;
          return rest;
        },
      }),
      recordResultError: assign({
        resultErrors: ({ context, event }) => ({
          ...context.resultErrors,
          [resultKey(context.fetchQueue[0] as ResultRequest)]: record((event as ErrorEvent).error, context),
        }),
      }),
      dequeue: assign({ fetchQueue: ({ context }) => context.fetchQueue.slice(1) }),
      /** A result fetch was cancelled: nothing more is fetched until the next FETCH. */
      clearFetchQueue: assign({ fetchQueue: [] }),
      /** A new upload (the first, or one sent again after a login) starts with no progress. */
      clearUploadProgress: assign({ uploadProgress: null }),
      /** A login or upload will be tried again: kept in recovery.retrying for progress views. */
      noteRetrying: assign({
        recovery: ({ context, event }) => {
          const { problem, attempt, retryAt } = event as Extract<SolveEvent, { type: 'REQUEST_RETRYING' }>;
          return { ...context.recovery, retrying: { problem, attempt, retryAt } };
        },
      }),
      clearRetrying: assign({ recovery: ({ context }) => (context.recovery.retrying === null ? context.recovery : { ...context.recovery, retrying: null }) }),
      storeUploadProgress: assign({
        // Bytes are moving: whatever was being retried has got through.
        recovery: ({ context }) => (context.recovery.retrying === null ? context.recovery : { ...context.recovery, retrying: null }),
        uploadProgress: ({ event }) => {
          const { sentBytes, totalBytes } = event as Extract<SolveEvent, { type: 'UPLOAD_PROGRESS' }>;
          return { sentBytes, totalBytes };
        },
      }),
      /** The submission id (and the hash of the bytes, when the server gave it) of the upload. */
      storeUpload: assign({
        subid: ({ event }) => outputOf<UploadResult>(event).subid,
        hash: ({ event }) => outputOf<UploadResult>(event).hash ?? null,
      }),
      /** The session expired during the upload: this solve logs in again, once. */
      countRelogin: assign({ recovery: ({ context }) => ({ ...context.recovery, relogins: context.recovery.relogins + 1 }) }),
      storeSubmission: assign({ submission: ({ event }) => outputOf<PollAnswer<SubmissionStatus>>(event).value }),
      /** The submission names a job (the first one not lost): the job is polled from now on. */
      followJob: assign({
        submission: ({ event }) => outputOf<PollAnswer<SubmissionStatus>>(event).value,
        jobId: ({ context, event }) => firstLiveJob(outputOf<PollAnswer<SubmissionStatus>>(event).value, context.recovery.lostJobIds) as number,
      }),
      storeJobStatus: assign({ jobStatus: ({ event }) => outputOf<PollAnswer<JobStatus>>(event).value }),
      markJobSolved: assign({ jobStatus: 'success' }),
      /** The job answered 404 (a worker restart re-created it): its id is never polled again; the submission names the new one. */
      forgetLostJob: assign({
        recovery: ({ context }) => ({ ...context.recovery, lostJobIds: [...context.recovery.lostJobIds, context.jobId as number] }),
        jobId: null,
        jobStatus: null,
      }),
      storeCalibration: assign({ results: ({ context, event }) => ({ ...context.results, calibration: outputOf<Calibration>(event) }) }),
      /** The results asked for up front become the fetch queue. */
      queuePrefetch: assign({ fetchQueue: ({ context }) => context.prefetch }),
      /** Frees the bytes of an in-memory input once the server has them (or never will). Provided by the tasks. */
      releaseUpload: enqueueActions(() => undefined),
      /** Issues the token of the upload about to begin (recovery.uploadAttempt). Provided by the tasks. */
      markUploadAttempt: enqueueActions(() => undefined),
      /** Sets polling.serverHoldsSeconds from what earlier solves of the session learned. Provided by the tasks. */
      learnServerHolds: enqueueActions(() => undefined),
      /** Picks the solve's server (keeps one already chosen). Provided by the tasks. */
      chooseServer: enqueueActions(() => undefined),
      /** Picks another server after the chosen one refused the connection. Provided by the tasks. */
      chooseAnotherServer: enqueueActions(() => undefined),
      /** The solve no longer counts against its server's solves in flight. Provided by the tasks. */
      releaseServer: enqueueActions(() => undefined),
    },
  });
}

const ignoreKnown = [{ guard: 'isUnknownKind' }, { guard: 'isCachedOrQueued' }] as const;

export function initialContext({ input }: { input: SolveMachineInput }): SolveContext {
  return {
    server: input.server ?? null,
    upload: input.upload ?? null,
    options: input.options ?? {},
    subid: input.subid ?? null,
    hash: null,
    jobId: input.jobId ?? null,
    submission: null,
    jobStatus: null,
    results: {},
    fetchQueue: [],
    resultErrors: {},
    error: null,
    deadline: null,
    timeoutMs: input.timeoutMs ?? null,
    polling: { schedule: input.schedule, phaseStartedAt: 0, nextPollAt: 0, lastPollAt: 0, token: null, serverHoldsSeconds: 0 },
    recovery: { relogins: 0, lostJobIds: [], uploadAttempt: null, retrying: null },
    uploadProgress: null,
    stages: {},
    prefetch: input.prefetch ?? [],
  };
}

/**
 * The solve machine on a clock: `now` gives the time (epoch ms) to every guard, action and input
 * that reads it. The tasks pass theirs (`MachineDependencies.now`); `solveMachine` is this on the
 * system clock, for diagrams and inspectors.
 */
export function createSolveMachine(now: Clock, options: SolveMachineOptions = {}) {
  const solveSetup = createSolveSetup(now);
  const ends = options.endsWhenSettled === true;

  /**
   * Between two polls, before any wait: a poll already due (after a read the server held) is
   * read at once, with no sleep actor made and stopped for nothing; otherwise the wait. Never
   * seen in a snapshot: it is left in the step that enters it.
   */
  const schedulingPoll = solveSetup.createStateConfig({
    description: 'No request, no wait: reads at once when the next poll is due (after a held read), else waits.',
    always: [{ guard: 'pollDue', target: 'reading' }, { target: 'waiting' }],
  });

  /** The wait between two polls, the same in both polling phases. */
  const waitingToPoll = solveSetup.createStateConfig({
    description: 'No request: sleeps until context.polling.nextPollAt (or the deadline).',
    tags: ['polling'],
    invoke: {
      id: 'waitForNextPoll',
      src: 'waitForNextPoll',
      input: ({ context }) => ({ until: context.polling.nextPollAt, deadline: context.deadline }),
      onDone: [{ guard: 'pastDeadline', target: '#solve.failure', actions: 'recordTimeout' }, { target: 'reading' }],
    },
    // An early poll asked for by a caller still keeps the minimum distance between polls.
    on: { POLL_NOW: { guard: 'mayPollNow', target: 'reading' } },
  });

  /**
   * Results after the outcome, the same under `success` and `failure`: `ready` waits for FETCH,
   * `fetchingResults` downloads the queue one result at a time. A result fetch has its own
   * window (the solve's timeout, from when it starts), since it may come long after the solve.
   */
  function resultsRegion(canFetch: 'hasJobToFetchFrom' | undefined) {
    return solveSetup.createStateConfig({
      initial: 'ready',
      states: {
        ready: {
          description: ends ? 'Nothing in flight: the solve ends.' : 'Nothing in flight; FETCH asks for a result not cached yet.',
          ...(ends ? { always: '#solve.ended' } : {}),
          on: {
            FETCH: [...ignoreKnown, { ...(canFetch ? { guard: canFetch } : {}), target: 'fetchingResults', actions: 'enqueueFetch' }],
          },
        },
        fetchingResults: {
          description: 'GET each queued result once (JSON or file); cached in context.results.',
          tags: ['fetching'],
          invoke: {
            id: 'fetchResult',
            src: 'fetchResult',
            input: ({ context }) => ({
              jobId: context.jobId as number,
              request: context.fetchQueue[0] as ResultRequest,
              deadline: context.timeoutMs === null ? null : now() + context.timeoutMs,
              server: context.server,
              solved: context.error === null,
            }),
            onDone: [
              { guard: 'moreToFetch', target: 'fetchingResults', reenter: true, actions: ['storeResult', 'dequeue'] },
              { target: 'ready', actions: ['storeResult', 'dequeue'] },
            ],
            onError: [
              { guard: 'moreToFetch', target: 'fetchingResults', reenter: true, actions: ['recordResultError', 'dequeue'] },
              { target: 'ready', actions: ['recordResultError', 'dequeue'] },
            ],
          },
          on: {
            FETCH: [...ignoreKnown, { actions: 'enqueueFetch' }],
            CANCEL: { target: 'ready', actions: 'clearFetchQueue' },
          },
        },
      },
    });
  }

  return solveSetup.createMachine({
    id: 'solve',
    context: initialContext,
    on: { RESTORED: { actions: 'startClock' } },
    initial: 'idle',
    states: {
      idle: {
        description: 'Nothing requested yet; START begins or resumes the solve.',
        tags: ['idle'],
        on: {
          START: [
            { guard: 'resumesAtJob', target: 'jobRunning', actions: ['startClock', 'chooseServer'] },
            { guard: 'resumesAtSubmission', target: 'submissionPending', actions: ['startClock', 'chooseServer'] },
            { guard: 'hasSession', target: 'uploading', actions: ['startClock', 'chooseServer'] },
            { target: 'loggingIn', actions: ['startClock', 'chooseServer'] },
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
          input: ({ context, self }) => ({ deadline: context.deadline, server: context.server, progressTo: self }),
          onDone: 'uploading',
          onError: [
            { guard: 'deadlineMovedOn', target: 'loggingIn', reenter: true },
            { guard: 'serverUnreachable', target: 'loggingIn', reenter: true, actions: 'chooseAnotherServer' },
            { target: 'failure', actions: 'recordError' },
          ],
        },
        exit: 'clearRetrying',
        on: { REQUEST_RETRYING: { actions: 'noteRetrying' }, CANCEL: { target: 'failure', actions: 'recordCancel' } },
      },
      uploading: {
        description: 'POST /api/upload or /api/url_upload',
        entry: [{ type: 'stamp', params: { stage: 'uploading' } }, 'clearUploadProgress', 'markUploadAttempt'],
        invoke: {
          id: 'upload',
          src: 'upload',
          input: ({ context, self }) => ({
            upload: context.upload as UploadDescriptor,
            options: context.options,
            deadline: context.deadline,
            server: context.server,
            attempt: context.recovery.uploadAttempt,
            progressTo: self,
          }),
          onDone: { target: 'submissionPending', actions: 'storeUpload' },
          onError: [
            // The server rejected the session before storing anything (or none was held): the
            // login state gets one, and sending the upload once more cannot duplicate it.
            { guard: 'sessionExpiredOnce', target: 'loggingIn', actions: 'countRelogin' },
            // Refused before anything was sent: another server takes it (its own login first).
            { guard: 'serverUnreachable', target: 'loggingIn', actions: 'chooseAnotherServer' },
            { target: 'failure', actions: 'recordError' },
          ],
        },
        exit: 'clearRetrying',
        on: {
          UPLOAD_PROGRESS: { actions: 'storeUploadProgress' },
          REQUEST_RETRYING: { actions: 'noteRetrying' },
          CANCEL: { target: 'failure', actions: 'recordCancel' },
        },
      },
      submissionPending: {
        description: 'The server is ingesting the upload; polls the submission until a job id appears.',
        entry: [{ type: 'stamp', params: { stage: 'submissionPending' } }, 'releaseUpload', 'beginPhase', 'learnServerHolds', 'schedulePoll'],
        initial: 'scheduling',
        on: { CANCEL: { target: 'failure', actions: 'recordCancel' } },
        states: {
          scheduling: schedulingPoll,
          waiting: waitingToPoll,
          reading: {
            description: 'GET /api/submissions/:subid',
            tags: ['reading'],
            entry: 'notePoll',
            invoke: {
              id: 'readSubmission',
              src: 'readSubmission',
              input: ({ context }) => ({ subid: context.subid as number, seen: context.polling.token, deadline: context.deadline, server: context.server }),
              onDone: [
                { guard: 'submissionFailed', target: '#solve.failure', actions: 'recordSubmissionFailed' },
                { guard: 'jobAppeared', target: '#solve.jobRunning', actions: 'followJob' },
                { target: 'scheduling', actions: ['storeSubmission', 'noteHold', 'schedulePoll'] },
              ],
              onError: [{ guard: 'deadlineMovedOn', target: 'reading', reenter: true }, { target: '#solve.failure', actions: 'recordError' }],
            },
          },
        },
      },
      jobRunning: {
        description: 'A job is solving; polls only the job, then reads its calibration.',
        entry: [{ type: 'stamp', params: { stage: 'jobRunning' } }, 'beginPhase'],
        initial: 'reading',
        on: { CANCEL: { target: 'failure', actions: 'recordCancel' } },
        states: {
          scheduling: schedulingPoll,
          waiting: waitingToPoll,
          reading: {
            description: 'GET /api/jobs/:jobid',
            tags: ['reading'],
            entry: 'notePoll',
            invoke: {
              id: 'readJob',
              src: 'readJob',
              input: ({ context }) => ({ jobId: context.jobId as number, seen: context.polling.token, deadline: context.deadline, server: context.server }),
              onDone: [
                { guard: 'jobSolved', target: 'readingCalibration', actions: 'markJobSolved' },
                { guard: 'jobFailed', target: '#solve.failure', actions: 'recordJobFailed' },
                { target: 'scheduling', actions: ['storeJobStatus', 'noteHold', 'schedulePoll'] },
              ],
              onError: [
                { guard: 'deadlineMovedOn', target: 'reading', reenter: true },
                { guard: 'jobLostWithSubmission', target: '#solve.submissionPending', actions: 'forgetLostJob' },
                { target: '#solve.failure', actions: 'recordError' },
              ],
            },
          },
          readingCalibration: {
            description: 'GET /api/jobs/:jobid/calibration',
            invoke: {
              id: 'readCalibration',
              src: 'readCalibration',
              input: ({ context }) => ({ jobId: context.jobId as number, deadline: context.deadline, server: context.server }),
              onDone: [
                {
                  // Results asked for up front (e.g. the WCS file) are fetched before anyone waits on them.
                  guard: and(['hasCalibration', 'hasPrefetch']),
                  target: '#solve.success.fetchingResults',
                  actions: ['storeCalibration', 'queuePrefetch'],
                },
                { guard: 'hasCalibration', target: '#solve.success', actions: 'storeCalibration' },
                { target: '#solve.failure', actions: 'recordNoCalibration' },
              ],
              onError: [{ guard: 'deadlineMovedOn', target: 'readingCalibration', reenter: true }, { target: '#solve.failure', actions: 'recordError' }],
            },
          },
        },
      },
      success: {
        description: 'Solved, calibration cached. FETCH asks for another result.',
        tags: ['settled'],
        // A hinted in-memory upload keeps its bytes until the outcome (a blind retry may need them).
        entry: [{ type: 'stamp', params: { stage: 'success' } }, 'releaseUpload', 'releaseServer'],
        ...resultsRegion(undefined),
      },
      failure: {
        description: "Ended with context.error (code, subid, jobId). FETCH still reads a failed job's files.",
        tags: ['settled'],
        entry: [{ type: 'stamp', params: { stage: 'failure' } }, 'releaseUpload', 'releaseServer'],
        // A failed job still has a log and an axy file worth reading.
        ...resultsRegion('hasJobToFetchFrom'),
      },
      ...(ends
        ? {
            ended: {
              description: 'Final (endsWhenSettled): settled with nothing in flight; the output is the context.',
              type: 'final' as const,
              tags: ['settled' as const],
            },
          }
        : {}) as Record<never, never>,
    },
    output: ({ context }) => context,
  });
}

export interface SolveMachineOptions {
  /**
   * End in the final state `ended` once settled with nothing being fetched, its output the
   * context (outcome, ids, results), instead of waiting for FETCH: for a parent that wants only
   * the outcome (the batch), which then hears of it from the child's done event alone.
   */
  endsWhenSettled?: boolean;
}

/** The solve machine on the system clock: what diagrams, inspectors and `provideSolveTasks` without `now` use. */
export const solveMachine = createSolveMachine(systemClock);
/** The solve machine that ends once settled (see `SolveMachineOptions`), on the system clock: the batch's default child. */
export const endingSolveMachine = createSolveMachine(systemClock, { endsWhenSettled: true });

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

export type { AstrometryNetError };
export type SolveActor = ActorRefFrom<typeof solveMachine>;
export type SolveSnapshot = SnapshotFrom<typeof solveMachine>;
