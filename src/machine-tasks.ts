/**
 * The tasks the machines need, bound to one server and one account: every nova request over an
 * injected transport, the shared login, and the clock between polls. In the spirit of Ledger's
 * `MachineDependencies`: the charts in `machines/` declare typed placeholders; `provideSolveTasks`
 * and `provideAccountTasks` give them these implementations with `provide`.
 *
 * Everything a process holds that a snapshot must not (the transport, the login with its secrets,
 * bytes to upload) lives here, never in a machine's context.
 */
import { assign, fromPromise, type AnyActorRef } from 'xstate';
import { accountMachine, type ServerInfo } from '../machines/account.machine.js';
import {
  solveMachine,
  type Bounded,
  type FetchedResult,
  type ResultRequest,
  type StatusReadInput,
  type UploadActorInput,
  type WaitInput,
} from '../machines/solve.machine.js';
import { NotFoundError, SessionExpiredError, UnexpectedContentError, UploadInterruptedError } from './errors.js';
import type { MemoryStore } from './inputs.js';
import type { SharedLogin } from './login.js';
import * as api from './protocol/api.js';
import type { ExchangeContext } from './protocol/exchange.js';
import { isFileResultKind } from './protocol/results.js';
import { DEFAULT_RETRY, sleep, type RetryPolicy } from './protocol/retry.js';
import { NOVA_MIN_INTERVAL_MS } from './polling.js';
import { isPublicNova } from './protocol/urls.js';
import type { Transport } from './transport/types.js';

export interface RequestEvent {
  method: string;
  url: string;
}

/** What the tasks are built from: one server, one account, one transport. */
export interface MachineDependencies {
  transport: Transport;
  apiUrl: string;
  login: SharedLogin;
  memory: MemoryStore;
  retry?: RetryPolicy;
  /** No byte moving either way for this long fails a request (it is retried if safe). Default 60 s. */
  stallTimeoutMs?: number;
  /** Largest JSON answer accepted. Default 16 MiB. */
  maxJsonBytes?: number;
  /** Largest result file accepted. Default 1 GiB. */
  maxFileBytes?: number;
  /** Sees each request's method and URL, never a body or a key. */
  onRequest?: (event: RequestEvent) => void;
}

/** The longest a status read asks `serve` to hold it; the server may hold less. */
const MAX_HOLD_SECONDS = 600;
const PROGRESS_STEP = 0.02;

function bind(deps: MachineDependencies) {
  const policy = deps.retry ?? DEFAULT_RETRY;
  // Retries are requests too: against nova they keep the same 5 s distance as polls.
  const retry = isPublicNova(deps.apiUrl) ? { ...policy, minDelayMs: Math.max(policy.minDelayMs ?? 0, NOVA_MIN_INTERVAL_MS) } : policy;
  const exchangeContext = (signal: AbortSignal, deadline: number | null, extra: Partial<ExchangeContext> = {}): ExchangeContext => ({
    transport: deps.transport,
    apiUrl: deps.apiUrl,
    retry,
    signal,
    deadline,
    ...(deps.onRequest ? { onRequest: deps.onRequest } : {}),
    ...(deps.stallTimeoutMs !== undefined ? { stallTimeoutMs: deps.stallTimeoutMs } : {}),
    ...(deps.maxJsonBytes !== undefined ? { maxJsonBytes: deps.maxJsonBytes } : {}),
    ...(deps.maxFileBytes !== undefined ? { maxFileBytes: deps.maxFileBytes } : {}),
    ...extra,
  });
  // The login request runs under the shared login's own signal: every solve waiting for it shares it.
  const login = fromPromise<void, Bounded>(async ({ input, signal }) => {
    await deps.login.acquire(
      (apiKey, loginSignal) => api.login(exchangeContext(loginSignal, input.deadline), apiKey).then((r) => r.session),
      signal,
    );
  });
  /** Runs a request with the session held now; none held means the login state must get one. */
  const withSession = async <T>(request: (session: string) => Promise<T>): Promise<T> => {
    const session = deps.login.current;
    if (session === undefined) throw new SessionExpiredError('No session is held; log in first.');
    try {
      return await request(session);
    } catch (error) {
      if (error instanceof SessionExpiredError) deps.login.invalidate(session);
      throw error;
    }
  };
  return { exchangeContext, withSession, login };
}

/** The account machine with its requests bound to one server and account. */
export function provideAccountTasks(deps: MachineDependencies) {
  const { exchangeContext, withSession, login } = bind(deps);
  return accountMachine.provide({
    actors: {
      login,
      readMyJobs: fromPromise<number[], Bounded>(({ input, signal }) =>
        withSession((s) => api.myJobs(exchangeContext(signal, input.deadline), s)),
      ),
      readSubmissionImages: fromPromise<number[], Bounded & { subid: number }>(({ input, signal }) =>
        withSession((s) => api.submissionImages(exchangeContext(signal, input.deadline), s, input.subid)),
      ),
      searchTags: fromPromise<number[], Bounded & { query: string; exact: boolean }>(({ input, signal }) =>
        api.jobsByTag(exchangeContext(signal, input.deadline), input.query, input.exact),
      ),
      readServerInfo: fromPromise<ServerInfo | null, Bounded>(
        async ({ input, signal }) => (await api.serverInfo(exchangeContext(signal, input.deadline))) as ServerInfo | null,
      ),
    },
    guards: { hasSession: () => deps.login.hasSession },
  });
}

/** How long a status read asks to be held: until the deadline, at most ten minutes. */
function longPoll(input: StatusReadInput, until: api.LongPoll['until']): api.LongPoll {
  const left = input.deadline === null ? MAX_HOLD_SECONDS : Math.floor((input.deadline - Date.now()) / 1000);
  return { waitSeconds: Math.max(1, Math.min(MAX_HOLD_SECONDS, left)), seen: input.seen, ...(until ? { until } : {}) };
}

/** The solve machine with its requests bound to one server and account. */
export function provideSolveTasks(deps: MachineDependencies) {
  const { exchangeContext, withSession, login } = bind(deps);

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
    return withSession((session) =>
      api.upload(exchangeContext(signal, input.deadline, { onUploadProgress }), session, input.upload, input.options, deps.memory),
    );
  });
  // A restored upload actor cannot know whether its body reached the server before the
  // process stopped; marking it makes it fail with UploadInterruptedError instead of resending.
  upload.restoreSnapshot = (snapshot: any) => ({ ...snapshot, input: { ...snapshot.input, restored: true } });

  // Whether this server holds status reads, as its last answer said: every solve of the session
  // then asks to be held until the milestone it waits for, from its first read on.
  let serverHoldsSeconds = 0;
  const learn = <T>(answer: api.PollAnswer<T>): api.PollAnswer<T> => {
    serverHoldsSeconds = answer.hold?.seconds ?? 0;
    return answer;
  };
  const milestone = (until: 'job' | 'done') => (serverHoldsSeconds > 0 ? until : undefined);

  return solveMachine.provide({
    actors: {
      login,
      upload,
      readSubmission: fromPromise(({ input, signal }: { input: StatusReadInput & { subid: number }; signal: AbortSignal }) =>
        api
          .submissionStatus(exchangeContext(signal, input.deadline), input.subid, longPoll(input, milestone('job')))
          .then(learn, (error: unknown) => {
            throw error instanceof NotFoundError ? Object.assign(error, { subid: input.subid }) : error;
          }),
      ),
      readJob: fromPromise(({ input, signal }: { input: StatusReadInput & { jobId: number }; signal: AbortSignal }) =>
        api.jobStatus(exchangeContext(signal, input.deadline), input.jobId, longPoll(input, milestone('done'))).then(learn),
      ),
      readCalibration: fromPromise(({ input, signal }: { input: Bounded & { jobId: number }; signal: AbortSignal }) =>
        api.calibration(exchangeContext(signal, input.deadline), input.jobId),
      ),
      fetchResult: fromPromise<FetchedResult, Bounded & { jobId: number; request: ResultRequest }>(({ input, signal }) =>
        fetchResult(exchangeContext(signal, input.deadline), input.jobId, input.request),
      ),
      waitForNextPoll: fromPromise<void, WaitInput>(({ input, signal }) => {
        const until = input.deadline === null ? input.until : Math.min(input.until, input.deadline);
        return sleep(until - Date.now(), signal).catch(() => undefined);
      }),
    },
    guards: {
      hasSession: () => deps.login.hasSession,
    },
    actions: {
      learnServerHolds: assign({ serverHoldsSeconds: () => serverHoldsSeconds }),
      // Bytes held for an upload are dropped once the server has them or the solve failed:
      // a long-lived Session would otherwise keep every file it ever sent.
      releaseUpload: ({ context }) => {
        if (context.upload?.kind === 'memory') deps.memory.delete(context.upload.ref);
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
