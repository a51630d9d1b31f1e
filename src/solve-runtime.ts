/**
 * Gives the solve machine its actors: the nova requests over an injected transport.
 *
 * Everything a process holds that a snapshot must not (the transport, the session keeper with
 * the secrets, bytes to upload) lives here, and is bound to the machine with `provide`.
 */
import { fromPromise, type AnyActorRef } from 'xstate';
import { accountMachine } from '../machines/account.machine.js';
import {
  solveMachine,
  type FetchedResult,
  type ResultRequest,
  type UploadActorInput,
  type WaitInput,
} from '../machines/solve.machine.js';
import { NotFoundError, SessionExpiredError, UnexpectedContentError, UploadInterruptedError } from './errors.js';
import type { MemoryStore } from './inputs.js';
import * as api from './protocol/api.js';
import type { ExchangeContext } from './protocol/exchange.js';
import { isFileResultKind } from './protocol/results.js';
import { DEFAULT_RETRY, sleep, type RetryPolicy } from './protocol/retry.js';
import { NOVA_MIN_INTERVAL_MS } from './polling.js';
import { isPublicNova } from './protocol/urls.js';
import type { SessionKeeper } from './session-keeper.js';
import type { Transport } from './transport/types.js';

export interface RequestEvent {
  method: string;
  url: string;
}

export interface SolveRuntime {
  transport: Transport;
  apiUrl: string;
  session: SessionKeeper;
  memory: MemoryStore;
  retry?: RetryPolicy;
  /** How long a safe request (poll, read, download) waits for its answer; default one minute. */
  answerTimeoutMs?: number;
  /** Sees each request's method and URL, never a body or a key. */
  onRequest?: (event: RequestEvent) => void;
}

const PROGRESS_STEP = 0.02;

function bindRuntime(runtime: SolveRuntime) {
  const policy = runtime.retry ?? DEFAULT_RETRY;
  // Retries are requests too: against nova they keep the same 5 s distance as polls.
  const retry = isPublicNova(runtime.apiUrl) ? { ...policy, minDelayMs: Math.max(policy.minDelayMs ?? 0, NOVA_MIN_INTERVAL_MS) } : policy;
  const exchangeContext = (signal: AbortSignal, extra: Partial<ExchangeContext> = {}): ExchangeContext => ({
    transport: runtime.transport,
    apiUrl: runtime.apiUrl,
    retry,
    signal,
    ...(runtime.onRequest ? { onRequest: runtime.onRequest } : {}),
    ...(runtime.answerTimeoutMs !== undefined ? { answerTimeoutMs: runtime.answerTimeoutMs } : {}),
    ...extra,
  });
  // The login runs under the keeper's own signal: it is shared by every solve waiting for it.
  const doLogin = (apiKey: string, loginSignal: AbortSignal) => api.login(exchangeContext(loginSignal), apiKey).then((r) => r.session);
  const acquireSession = (signal: AbortSignal) => runtime.session.acquire(doLogin, signal);
  const login = fromPromise<void, void>(async ({ signal }) => {
    await acquireSession(signal);
  });
  /** Runs a request that needs the session; forgets the session if the server dropped it. */
  const withSession = async <T>(signal: AbortSignal, request: (session: string) => Promise<T>): Promise<T> => {
    const session = await acquireSession(signal);
    try {
      return await request(session);
    } catch (error) {
      if (error instanceof SessionExpiredError) runtime.session.invalidate(session);
      throw error;
    }
  };
  return { exchangeContext, withSession, login };
}

/** The account machine with its requests bound to a runtime. */
export function provideAccountRuntime(runtime: SolveRuntime) {
  const { exchangeContext, withSession, login } = bindRuntime(runtime);
  return accountMachine.provide({
    actors: {
      login,
      readMyJobs: fromPromise<number[], void>(({ signal }) => withSession(signal, (s) => api.myJobs(exchangeContext(signal), s))),
      readSubmissionImages: fromPromise<number[], { subid: number }>(({ input, signal }) =>
        withSession(signal, (s) => api.submissionImages(exchangeContext(signal), s, input.subid)),
      ),
      searchTags: fromPromise<number[], { query: string; exact: boolean }>(({ input, signal }) =>
        api.jobsByTag(exchangeContext(signal), input.query, input.exact),
      ),
    },
    guards: { hasSession: () => runtime.session.hasSession },
  });
}

export function provideSolveRuntime(runtime: SolveRuntime) {
  const { exchangeContext, withSession, login } = bindRuntime(runtime);

  const upload = fromPromise<Awaited<ReturnType<typeof api.upload>>, UploadActorInput>(async ({ input, signal, self }) => {
    if (input.restored) throw new UploadInterruptedError();
    // Progress goes to the solve machine so its context (and the inspector) shows it.
    const parent = (self as AnyActorRef)._parent;
    let reported = -1;
    const onUploadProgress = (sentBytes: number, totalBytes: number | undefined) => {
      const fraction = totalBytes ? sentBytes / totalBytes : 0;
      if (totalBytes && fraction - reported < PROGRESS_STEP && sentBytes < totalBytes) return;
      reported = fraction;
      parent?.send({ type: 'UPLOAD_PROGRESS', sentBytes, totalBytes: totalBytes ?? null });
    };
    return withSession(signal, (session) =>
      api.upload(exchangeContext(signal, { onUploadProgress }), session, input.upload, input.options, runtime.memory),
    );
  });
  // A restored upload actor cannot know whether its body reached the server before the
  // process stopped; marking it makes it fail with UploadInterruptedError instead of resending.
  upload.restoreSnapshot = (snapshot: any) => ({ ...snapshot, input: { ...snapshot.input, restored: true } });

  return solveMachine.provide({
    actors: {
      login,
      upload,
      readSubmission: fromPromise(({ input, signal }: { input: { subid: number }; signal: AbortSignal }) =>
        api.submissionStatus(exchangeContext(signal), input.subid).catch((error: unknown) => {
          throw error instanceof NotFoundError ? Object.assign(error, { subid: input.subid }) : error;
        }),
      ),
      readJob: fromPromise(({ input, signal }: { input: { jobId: number }; signal: AbortSignal }) =>
        api.jobStatus(exchangeContext(signal), input.jobId),
      ),
      readCalibration: fromPromise(({ input, signal }: { input: { jobId: number }; signal: AbortSignal }) =>
        api.calibration(exchangeContext(signal), input.jobId),
      ),
      fetchResult: fromPromise<FetchedResult, { jobId: number; request: ResultRequest }>(({ input, signal }) =>
        fetchResult(exchangeContext(signal), input.jobId, input.request),
      ),
      waitForNextPoll: fromPromise<void, WaitInput>(({ input, signal }) => {
        const until = input.deadline === null ? input.until : Math.min(input.until, input.deadline);
        return sleep(until - Date.now(), signal).catch(() => undefined);
      }),
    },
    guards: {
      hasSession: () => runtime.session.hasSession,
    },
    actions: {
      // Bytes held for an upload are dropped once the server has them or the solve failed:
      // a long-lived Session would otherwise keep every file it ever sent.
      releaseUpload: ({ context }) => {
        if (context.upload?.kind === 'memory') runtime.memory.delete(context.upload.ref);
      },
    },
  });
}

async function fetchResult(ctx: ExchangeContext, jobId: number, request: ResultRequest): Promise<FetchedResult> {
  const { kind } = request;
  if (isFileResultKind(kind)) return { kind, value: await api.resultFile(ctx, kind, jobId) };
  switch (kind) {
    case 'calibration': {
      const value = await api.calibration(ctx, jobId);
      if (!value) throw notSolved(ctx, jobId, 'calibration');
      return { kind, value };
    }
    case 'info':
      return { kind, value: await api.info(ctx, jobId) };
    case 'tags':
      return { kind, value: await api.tags(ctx, jobId, 'tags') };
    case 'machineTags':
      return { kind, value: await api.tags(ctx, jobId, 'machine_tags') };
    case 'objectsInField':
      return { kind, value: await api.tags(ctx, jobId, 'objects_in_field') };
    case 'annotations': {
      const value = await api.annotations(ctx, jobId, request.nbright);
      if (!value) throw notSolved(ctx, jobId, 'annotations');
      return request.nbright === undefined ? { kind, value } : { kind, nbright: request.nbright, value };
    }
  }
}

function notSolved(ctx: ExchangeContext, jobId: number, what: string): UnexpectedContentError {
  return new UnexpectedContentError(
    what,
    { url: `${ctx.apiUrl}jobs/${jobId}/${what}`, status: 200, contentType: 'text/plain', bodyStart: 'no calibration data available' },
    { jobId },
  );
}
