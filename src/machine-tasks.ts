/**
 * The tasks the machines need, bound to one server and one account: every nova request over an
 * injected transport, the shared login, and the clock between polls. In the spirit of Ledger's
 * `MachineDependencies`: the charts in `machines/` declare typed placeholders; `provideSolveTasks`
 * and `provideAccountTasks` give them these implementations with `provide`.
 *
 * Everything a process holds that a snapshot must not (the transport, the login with its secrets,
 * bytes to upload) lives here, never in a machine's context.
 */
import { assign, enqueueActions, fromPromise, type AnyActorRef } from 'xstate';
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
import { HttpError, NetworkError, NotFoundError, SessionExpiredError, UnexpectedContentError, UploadInterruptedError } from './errors.js';
import type { MemoryStore } from './inputs.js';
import type { ServerPool } from './server-pool.js';
import { failoverTransport } from './transport/failover.js';
import * as api from './protocol/api.js';
import type { ExchangeContext } from './protocol/exchange.js';
import { isFileResultKind } from './protocol/results.js';
import { DEFAULT_RETRY, neverReachedServer, sleep, type RetryPolicy } from './protocol/retry.js';
import { NOVA_MIN_INTERVAL_MS } from './polling.js';
import { isPublicNova } from './protocol/urls.js';
import type { Transport } from './transport/types.js';

export interface RequestEvent {
  method: string;
  url: string;
}

/** What the tasks are built from: the servers (one or several), one account, one transport. */
export interface MachineDependencies {
  transport: Transport;
  /** The servers and their logins; solves are spread over them. */
  servers: ServerPool;
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
const PROGRESS_MIN_BYTES = 1024 * 1024;

function bind(deps: MachineDependencies) {
  const pool = deps.servers;
  const transport = pool.sharedStore && pool.servers.length > 1 ? failoverTransport(deps.transport, pool) : deps.transport;
  const policy = deps.retry ?? DEFAULT_RETRY;
  const several = pool.servers.length > 1;
  // Retries are requests too: against nova they keep the same 5 s distance as polls. Worked
  // out once per server, not per request (parsing a URL per request shows in a profile).
  const policies = new Map<string, RetryPolicy>();
  const retryFor = (apiUrl: string): RetryPolicy => {
    let retry = policies.get(apiUrl);
    if (retry === undefined) {
      retry = isPublicNova(apiUrl) ? { ...policy, minDelayMs: Math.max(policy.minDelayMs ?? 0, NOVA_MIN_INTERVAL_MS) } : policy;
      policies.set(apiUrl, retry);
    }
    return retry;
  };
  const exchangeContext = (signal: AbortSignal, scope: Bounded, extra: Partial<ExchangeContext> = {}): ExchangeContext => {
    const apiUrl = pool.get(scope.server).apiUrl;
    const retry = retryFor(apiUrl);
    return {
      transport,
      apiUrl,
      retry,
      signal,
      deadline: scope.deadline,
      ...(deps.onRequest ? { onRequest: deps.onRequest } : {}),
      ...(deps.stallTimeoutMs !== undefined ? { stallTimeoutMs: deps.stallTimeoutMs } : {}),
      ...(deps.maxJsonBytes !== undefined ? { maxJsonBytes: deps.maxJsonBytes } : {}),
      ...(deps.maxFileBytes !== undefined ? { maxFileBytes: deps.maxFileBytes } : {}),
      ...extra,
    };
  };
  /**
   * For a login or an upload, which can move: with another server up, a refused connection is not
   * waited out here; the solve goes to that server instead.
   */
  const movable = (scope: Bounded): Partial<ExchangeContext> =>
    several ? { retryUnreachable: !pool.anotherUp(pool.get(scope.server).apiUrl) } : {};
  /** A refused connection marks its server down, so the solve can move to another. */
  const noting = async <T>(scope: Bounded, request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (error) {
      if (several && neverReachedServer(error)) pool.unreachable(pool.get(scope.server).apiUrl);
      throw error;
    }
  };
  // The login request runs under the shared login's own signal: every solve waiting for it shares it.
  const login = fromPromise<void, Bounded>(async ({ input, signal }) => {
    await noting(input, () =>
      pool
        .get(input.server)
        .login.acquire((apiKey, loginSignal) => api.login(exchangeContext(loginSignal, input, movable(input)), apiKey).then((r) => r.session), signal),
    );
  });
  /** Runs a request with the session held now on the scope's server; none held means the login state must get one. */
  const withSession = async <T>(scope: Bounded, request: (session: string) => Promise<T>): Promise<T> => {
    const { login: held } = pool.get(scope.server);
    const session = held.current;
    if (session === undefined) throw new SessionExpiredError('No session is held; log in first.');
    try {
      return await request(session);
    } catch (error) {
      if (error instanceof SessionExpiredError) held.invalidate(session);
      throw error;
    }
  };
  return { pool, exchangeContext, withSession, login, noting, movable };
}

/** The account machine with its requests bound to one server and account. */
export function provideAccountTasks(deps: MachineDependencies) {
  const { pool, exchangeContext, withSession } = bind(deps);
  // Account questions go to the first server: an account's jobs live where it uploaded them.
  const primary = (input: { deadline: number | null }): Bounded => ({ deadline: input.deadline, server: null });
  const login = fromPromise<void, { deadline: number | null }>(async ({ input, signal }) => {
    await pool.primary.login.acquire(
      (apiKey, loginSignal) => api.login(exchangeContext(loginSignal, primary(input)), apiKey).then((r) => r.session),
      signal,
    );
  });
  return accountMachine.provide({
    actors: {
      login,
      readMyJobs: fromPromise<number[], { deadline: number | null }>(({ input, signal }) =>
        withSession(primary(input), (s) => api.myJobs(exchangeContext(signal, primary(input)), s)),
      ),
      readSubmissionImages: fromPromise<number[], { deadline: number | null; subid: number }>(({ input, signal }) =>
        withSession(primary(input), (s) => api.submissionImages(exchangeContext(signal, primary(input)), s, input.subid)),
      ),
      searchTags: fromPromise<number[], { deadline: number | null; query: string; exact: boolean }>(({ input, signal }) =>
        api.jobsByTag(exchangeContext(signal, primary(input)), input.query, input.exact),
      ),
      readServerInfo: fromPromise<ServerInfo | null, { deadline: number | null }>(
        async ({ input, signal }) => (await api.serverInfo(exchangeContext(signal, primary(input)))) as ServerInfo | null,
      ),
    },
    guards: { hasSession: () => pool.primary.login.hasSession },
  });
}

/** How long a status read asks to be held: until the deadline, at most ten minutes. */
function longPoll(input: StatusReadInput, until: api.LongPoll['until']): api.LongPoll {
  const left = input.deadline === null ? MAX_HOLD_SECONDS : Math.floor((input.deadline - Date.now()) / 1000);
  return { waitSeconds: Math.max(1, Math.min(MAX_HOLD_SECONDS, left)), seen: input.seen, ...(until ? { until } : {}) };
}

/** The solve machine with its requests bound to the servers and the account. */
export function provideSolveTasks(deps: MachineDependencies) {
  const { pool, exchangeContext, withSession, login, noting, movable } = bind(deps);
  const several = pool.servers.length > 1;

  const upload = fromPromise<Awaited<ReturnType<typeof api.upload>>, UploadActorInput>(async ({ input, signal, self }) => {
    if (input.restored) throw new UploadInterruptedError();
    // Progress goes to the solve machine so its context (and the inspector) shows it.
    const parent = (self as AnyActorRef)._parent;
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
      const result = await noting(input, () =>
        withSession(input, (session) =>
          api.upload(exchangeContext(signal, input, { onUploadProgress, ...movable(input) }), session, input.upload, input.options, deps.memory),
        ),
      );
      pool.uploadSucceeded(server);
      return result;
    } catch (error) {
      // A server that keeps failing uploads (dropped connections, 5xx) gets no new ones for a while.
      if (error instanceof NetworkError || (error instanceof HttpError && error.status >= 500)) pool.uploadFailed(server);
      throw error;
    }
  });
  // A restored upload actor cannot know whether its body reached the server before the
  // process stopped; marking it makes it fail with UploadInterruptedError instead of resending.
  upload.restoreSnapshot = (snapshot: any) => ({ ...snapshot, input: { ...snapshot.input, restored: true } });

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

  return solveMachine.provide({
    actors: {
      login,
      upload,
      readSubmission: fromPromise(({ input, signal }: { input: StatusReadInput & { subid: number }; signal: AbortSignal }) =>
        api
          .submissionStatus(exchangeContext(signal, input), input.subid, longPoll(input, milestone(input, 'job')))
          .then(learn(input), (error: unknown) => {
            throw error instanceof NotFoundError ? Object.assign(error, { subid: input.subid }) : error;
          }),
      ),
      readJob: fromPromise(({ input, signal }: { input: StatusReadInput & { jobId: number }; signal: AbortSignal }) =>
        api.jobStatus(exchangeContext(signal, input), input.jobId, longPoll(input, milestone(input, 'done'))).then(learn(input)),
      ),
      readCalibration: fromPromise(({ input, signal }: { input: Bounded & { jobId: number }; signal: AbortSignal }) =>
        api.calibration(exchangeContext(signal, input), input.jobId),
      ),
      fetchResult: fromPromise<FetchedResult, Bounded & { jobId: number; request: ResultRequest }>(({ input, signal }) =>
        fetchResult(exchangeContext(signal, input), input.jobId, input.request),
      ),
      waitForNextPoll: fromPromise<void, WaitInput>(({ input, signal }) => {
        const until = input.deadline === null ? input.until : Math.min(input.until, input.deadline);
        return sleep(until - Date.now(), signal).catch(() => undefined);
      }),
    },
    guards: {
      // With several servers the one chosen at START may lack a session: loggingIn gets one
      // (and makes no request where one is held).
      hasSession: () => !several && pool.primary.login.hasSession,
      serverUnreachable: ({ context, event }) =>
        several && neverReachedServer((event as { error?: unknown }).error) && pool.anotherUp(context.server),
    },
    actions: {
      learnServerHolds: assign({ polling: ({ context }) => ({ ...context.polling, serverHoldsSeconds: holdsReads(context.server) }) }),
      chooseServer: enqueueActions(({ context, enqueue }) => {
        if (context.server !== null && pool.has(context.server)) return;
        const server = several ? pool.choose() : pool.primary;
        server.inFlight++;
        enqueue.assign({ server: server.apiUrl });
      }),
      chooseAnotherServer: enqueueActions(({ context, enqueue }) => {
        const from = pool.get(context.server);
        from.inFlight = Math.max(0, from.inFlight - 1);
        const server = pool.choose();
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
