/**
 * What the tasks are built from, and the pieces every machine's tasks share: the request
 * context for a scope, the held session, the shared login. In the spirit of Ledger's
 * `MachineDependencies`: the charts in `machines/` declare typed placeholders;
 * `provideSolveTasks` (solve-tasks.ts) and `provideAccountTasks` (account-tasks.ts) give them
 * these implementations with `provide`.
 *
 * Everything a process holds that a snapshot must not (the transport, the login with its secrets,
 * bytes to upload) lives here, never in a machine's context.
 */
import { fromPromise } from 'xstate';
import type { Bounded, RetryingNotice } from '../../machines/solve.machine.js';
import { SessionExpiredError } from '../errors.js';
import type { MemoryStore } from '../client/solve-input.js';
import type { ServerPool } from './server-pool.js';
import * as api from '../protocol/api.js';
import type { ExchangeContext, RequestLimits } from '../protocol/exchange.js';
import { DEFAULT_RETRY, neverReachedServer, type RetryPolicy, type UnreachableWatch } from '../protocol/retry.js';

/** How long a login or an upload waits out a server that refuses connections. */
export const DEFAULT_UNREACHABLE_AFTER_MS = 2 * 60_000;
import { NOVA_MIN_INTERVAL_MS } from './polling.js';
import { isPublicNova } from '../protocol/urls.js';
import { systemClock } from './clock.js';
import type { Transport } from '../transport/transport.js';

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
  /** The stall timeout and the answer caps (defaults: 60 s, 16 MiB of JSON, 1 GiB per file). */
  limits?: RequestLimits;
  /**
   * How long a login or an upload waits out a server that refuses connections (or whose name
   * does not resolve) before it ends in an UnreachableError. Default 2 minutes. The time is the
   * server's, shared by every solve: once it has been unreachable that long, each new login or
   * upload to it gives up after one attempt, so a batch against a dead server ends in minutes.
   */
  unreachableAfterMs?: number;
  /** Sees each request's method and URL, never a body or a key. */
  onRequest?: (event: RequestEvent) => void;
  /**
   * The clock the machines read (epoch ms): deadlines, poll times, stage stamps, the servers'
   * time out. Default: the system clock. Tests pass a fake one.
   */
  now?: () => number;
}

export function bind(deps: MachineDependencies) {
  const pool = deps.servers;
  const now = deps.now ?? systemClock;
  const transport = pool.sharedStore && pool.servers.length > 1 ? failoverOnFirstRequest(deps.transport, pool, now) : deps.transport;
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
  // One watch per server and kind of request, made once: a status read waits out an unreachable
  // server until the deadline; a login or an upload gives up after unreachableAfterMs.
  const watches = new Map<string, UnreachableWatch>();
  const watchFor = (apiUrl: string, sending: boolean): UnreachableWatch => {
    const key = `${sending ? 'send' : 'read'} ${apiUrl}`;
    let watch = watches.get(key);
    if (watch === undefined) {
      watch = pool.watch(apiUrl, sending ? (deps.unreachableAfterMs ?? DEFAULT_UNREACHABLE_AFTER_MS) : Number.POSITIVE_INFINITY);
      watches.set(key, watch);
    }
    return watch;
  };
  const exchangeContext = (signal: AbortSignal, scope: Bounded, extra: Partial<ExchangeContext> = {}): ExchangeContext => {
    const apiUrl = pool.get(scope.server).apiUrl;
    const retry = retryFor(apiUrl);
    const progressTo = scope.progressTo;
    return {
      unreachable: watchFor(apiUrl, false),
      // A login or an upload tells its solve of each retry, so a progress view can say at once
      // that the server cannot be reached, and when it is tried again.
      ...(progressTo ? { onRetry: (notice: RetryingNotice) => progressTo.send({ type: 'REQUEST_RETRYING', ...notice }) } : {}),
      transport,
      apiUrl,
      retry,
      signal,
      deadline: scope.deadline,
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.onRequest ? { onRequest: deps.onRequest } : {}),
      ...(deps.limits ? { limits: deps.limits } : {}),
      ...extra,
    };
  };
  /**
   * For a login or an upload, which can move: with another server up, a refused connection is not
   * waited out here; the solve goes to that server instead.
   */
  const movable = (scope: Bounded): Partial<ExchangeContext> => {
    const apiUrl = pool.get(scope.server).apiUrl;
    return { unreachable: watchFor(apiUrl, true), ...(several ? { retryUnreachable: !pool.anotherUp(apiUrl, now()) } : {}) };
  };
  /** A refused connection marks its server down, so the solve can move to another. */
  const noting = async <T>(scope: Bounded, request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (error) {
      if (several && neverReachedServer(error)) pool.unreachable(pool.get(scope.server).apiUrl, now());
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
  return { pool, now, exchangeContext, withSession, login, noting, movable };
}

/**
 * The failover transport, loaded by the first request: only clients of several servers that
 * share a database need it, and a bundle of one server's client should not carry it.
 */
function failoverOnFirstRequest(transport: Transport, pool: ServerPool, now: () => number): Transport {
  let loaded: Promise<Transport> | undefined;
  return {
    request: async (req) => {
      loaded ??= import('../transport/failover.js').then(
        ({ failoverTransport }) => failoverTransport(transport, pool, now),
        (error: unknown) => {
          loaded = undefined; // the next request tries to load it again
          throw error;
        },
      );
      return (await loaded).request(req);
    },
  };
}
