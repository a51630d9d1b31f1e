/**
 * The solve machine's tasks: every nova request of a solve over the injected transport, the
 * shared login, and the clock between polls.
 */
import { assign, enqueueActions, fromPromise } from 'xstate';
import {
  createSolveMachine,
  solveMachine,
  type Bounded,
  type SolveContext,
  type FetchedResult,
  type FetchResultInput,
  type StatusReadInput,
  type UploadActorInput,
  type WaitInput,
  type SolveMachineOptions,
} from '../../machines/solve.machine.js';
import { systemClock } from './clock.js';
import { HttpError, NetworkError, NotFoundError, UploadInterruptedError } from '../errors.js';
import * as api from '../protocol/api.js';
import { neverReachedServer, sleep } from '../protocol/retry.js';
import { bind, type MachineDependencies } from './dependencies.js';
import { uploadBody } from './upload-body.js';
import { mayRetryBlind, RETRY_BLIND_ON } from '../client/hints.js';

/** The longest a status read asks `serve` to hold it; the server may hold less. */
const MAX_HOLD_SECONDS = 600;
const PROGRESS_STEP = 0.02;
const PROGRESS_MIN_BYTES = 1024 * 1024;

/** How long a status read asks to be held: until the deadline, at most ten minutes. */
function longPoll(input: StatusReadInput, until: api.LongPoll['until'], now: number): api.LongPoll {
  const left = input.deadline === null ? MAX_HOLD_SECONDS : Math.floor((input.deadline - now) / 1000);
  return { waitSeconds: Math.max(1, Math.min(MAX_HOLD_SECONDS, left)), seen: input.seen, ...(until ? { until } : {}) };
}

/**
 * The solve machine with its requests bound to the servers and the account, on the clock
 * `deps.now` (the system clock without it). `{ endsWhenSettled: true }` gives the one that ends
 * once settled, for a batch's children (`batchMachine.provide({ actors: { solve } })`). A
 * `Session` gives its `endingMachine` its own machine's tasks instead, so both share what the
 * session learned (which servers hold reads) and one set of upload tokens.
 */
export function provideSolveTasks(deps: MachineDependencies, options: SolveMachineOptions = {}) {
  const { pool, now, exchangeContext, withSession, login, noting, movable } = bind(deps);
  const several = pool.servers.length > 1;

  // Upload tokens issued in this process and not yet used: an upload starts only with one. A
  // restored upload actor (its body may have reached the server before the process stopped)
  // brings a token that is spent, or another process's, and fails with UploadInterruptedError.
  // Unique to this Session, so a token can never match another Session's (Math.random: the
  // tokens need to be distinct, not secret, and webcrypto costs a fresh process ~10 ms to load).
  const attemptPrefix = `${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  let attemptCount = 0;
  const unusedAttempts = new Set<string>();
  const markUploadAttempt = assign({
    recovery: ({ context }: { context: SolveContext }) => {
      const uploadAttempt = `${attemptPrefix}:${++attemptCount}`;
      unusedAttempts.add(uploadAttempt);
      return { ...context.recovery, uploadAttempt };
    },
  });

  const upload = fromPromise<Awaited<ReturnType<typeof api.upload>>, UploadActorInput>(async ({ input, signal }) => {
    if (input.attempt === null || !unusedAttempts.delete(input.attempt)) throw new UploadInterruptedError();
    // Progress goes to the solve machine so its context (and the inspector) shows it.
    const parent = input.progressTo;
    let reported = -1;
    const onUploadProgress = (sentBytes: number, totalBytes: number | undefined) => {
      // A small upload is over before anyone could watch it move: no events to pay for.
      if (totalBytes !== undefined && totalBytes < PROGRESS_MIN_BYTES) return;
      const fraction = totalBytes ? sentBytes / totalBytes : 0;
      if (totalBytes && fraction - reported < PROGRESS_STEP && sentBytes < totalBytes) return;
      reported = fraction;
      parent?.send({ type: 'UPLOAD_PROGRESS', sentBytes, totalBytes: totalBytes ?? null });
    };
    const server = pool.get(input.server).apiUrl;
    try {
      const body = await uploadBody(input.upload, deps.memory);
      const result = await noting(input, () =>
        withSession(input, (session) =>
          api.upload(exchangeContext(signal, input, { onUploadProgress, ...movable(input) }), session, body, input.options),
        ),
      );
      pool.uploadSucceeded(server);
      return result;
    } catch (error) {
      // A server that keeps failing uploads (dropped connections, 5xx) gets no new ones for a while.
      if (error instanceof NetworkError || (error instanceof HttpError && error.status >= 500)) pool.uploadFailed(server, now());
      throw error;
    }
  });

  // Whether each server holds status reads, as its last answer said: every solve of the session
  // then asks it to hold a read until the milestone the solve waits for, from its first read on.
  const holds = new Map<string, number>();
  const learn =
    (scope: Bounded) =>
    <T>(answer: api.PollAnswer<T>): api.PollAnswer<T> => {
      holds.set(pool.get(scope.server).apiUrl, answer.hold?.seconds ?? 0);
      return answer;
    };
  const holdsReads = (server: string | null) => holds.get(pool.get(server).apiUrl) ?? 0;
  const milestone = (scope: Bounded, until: 'job' | 'done') => (holdsReads(scope.server) > 0 ? until : undefined);

  return (deps.now || options.endsWhenSettled ? createSolveMachine(deps.now ?? systemClock, options) : solveMachine).provide({
    actors: {
      login,
      upload,
      readSubmission: fromPromise(({ input, signal }: { input: StatusReadInput & { subid: number }; signal: AbortSignal }) =>
        api
          .submissionStatus(exchangeContext(signal, input), input.subid, longPoll(input, milestone(input, 'job'), now()))
          .then(learn(input), (error: unknown) => {
            throw error instanceof NotFoundError ? Object.assign(error, { subid: input.subid }) : error;
          }),
      ),
      readJob: fromPromise(({ input, signal }: { input: StatusReadInput & { jobId: number }; signal: AbortSignal }) =>
        api.jobStatus(exchangeContext(signal, input), input.jobId, longPoll(input, milestone(input, 'done'), now())).then(learn(input)),
      ),
      readCalibration: fromPromise(({ input, signal }: { input: Bounded & { jobId: number }; signal: AbortSignal }) =>
        api.calibration(exchangeContext(signal, input), input.jobId),
      ),
      fetchResult: fromPromise<FetchedResult, FetchResultInput>(({ input, signal }) =>
        // Loaded by the first fetch of a result beyond the calibration.
        import('./fetch-result.js').then(({ fetchResult }) => fetchResult(exchangeContext(signal, input), input.jobId, input.request, input.solved)),
      ),
      waitForNextPoll: fromPromise<void, WaitInput>(({ input, signal }) => {
        const until = input.deadline === null ? input.until : Math.min(input.until, input.deadline);
        return sleep(until - now(), signal).catch(() => undefined);
      }),
    },
    guards: {
      // With several servers the one chosen at START may lack a session: loggingIn gets one
      // (and makes no request where one is held).
      hasSession: () => !several && pool.primary.login.hasSession,
      serverUnreachable: ({ context, event }) =>
        several && neverReachedServer((event as { error?: unknown }).error) && pool.anotherUp(context.server, now()),
    },
    actions: {
      learnServerHolds: assign({ polling: ({ context }) => ({ ...context.polling, serverHoldsSeconds: holdsReads(context.server) }) }),
      chooseServer: enqueueActions(({ context, enqueue }) => {
        if (context.server !== null && pool.has(context.server)) return;
        const server = several ? pool.choose(now()) : pool.primary;
        server.inFlight++;
        enqueue.assign({ server: server.apiUrl });
      }),
      chooseAnotherServer: enqueueActions(({ context, enqueue }) => {
        const from = pool.get(context.server);
        from.inFlight = Math.max(0, from.inFlight - 1);
        const server = pool.choose(now());
        server.inFlight++;
        enqueue.assign({ server: server.apiUrl });
      }),
      releaseServer: ({ context }) => {
        if (context.server === null || !pool.has(context.server)) return;
        const server = pool.get(context.server);
        server.inFlight = Math.max(0, server.inFlight - 1);
      },
      // Bytes held for an upload are dropped once the server has them or the solve failed:
      // a long-lived Session would otherwise keep every file it ever sent.
      releaseUpload: ({ context }) => {
        if (context.upload?.kind !== 'memory') return;
        // A hinted upload that fails is sent once more, blind (src/client/hints.ts): its bytes
        // stay until the outcome tells whether that will happen.
        if (mayRetryBlind(context.upload.hints) && (context.error ? RETRY_BLIND_ON.includes(context.error.code) : context.results.calibration === undefined)) return;
        deps.memory.delete(context.upload.ref);
      },
      markUploadAttempt: markUploadAttempt as never,
    },
  });
}

