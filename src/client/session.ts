/**
 * A connection to one nova server with one account: where, who, and how to talk to it.
 *
 * The API key comes from the argument, else `ASTROMETRY_API_KEY`, else a key file (in Node:
 * `$XDG_CONFIG_HOME/astrometry-net/api-key`, default `~/.config/...`). Logging in is lazy: the
 * first solve that needs a session logs in, and every later solve of this Session shares it.
 */
import { AuthError, ValidationError } from '../errors.js';
import type { MemoryStore } from './solve-input.js';
import { resolvePollSchedule, type PollSchedule } from '../tasks/polling.js';
import { resolveRetryPolicy, type RetryPolicy } from '../protocol/retry.js';
import type { RequestLimits } from '../protocol/exchange.js';
import { DEFAULT_API_URL, isPublicNova, normaliseApiUrl } from '../protocol/urls.js';
import { ServerPool } from '../tasks/server-pool.js';
import type { InspectionEvent } from 'xstate';
import type { AccountOutput, AccountQuery, ServerInfo } from '../../machines/account.machine.js';
import type { InspectObserver } from '../inspect/sanitize.js';
import type { RequestEvent, MachineDependencies } from '../tasks/dependencies.js';
import type { provideAccountTasks } from '../tasks/account-tasks.js';
import { provideSolveTasks } from '../tasks/solve-tasks.js';
import { createSolveMachine, type endingSolveMachine } from '../../machines/solve.machine.js';
import { systemClock } from '../tasks/clock.js';

/** The solve machine that ends once settled, with a session's tasks. */
export type EndingSolveMachine = typeof endingSolveMachine;
import type { Transport } from '../transport/transport.js';
import { platform } from '../platform/web-platform.js';
import { refuseUnknownOptions } from './known-options.js';
import { resolveCacheOption, type SolveCacheOption, type SolveCacheStore } from './solve-cache.js';

export interface SessionOptions extends RequestLimits {
  /** Defaults to `ASTROMETRY_API_KEY`, then the key file. */
  apiKey?: string;
  /**
   * The server, or several: solves are then spread over them (each with its own login) and a
   * server that refuses connections gets no new uploads for a while. Defaults to
   * `ASTROMETRY_API_URL`, then https://nova.astrometry.net/api/.
   */
  apiUrl?: string | readonly string[];
  /**
   * The servers share one database (several `serve` nodes on one PostgreSQL): any of them can
   * answer for any submission or job, so a read moves to another when its server is gone.
   */
  sharedStore?: boolean;
  /** Defaults to undici in Node. Pass `fetchTransport()` in a browser, or a fake in tests. */
  transport?: Transport;
  /** Overrides of the poll schedule (defaults depend on the server; 5 s minimum on nova). */
  polling?: Partial<PollSchedule>;
  /**
   * Retries of requests that are safe to repeat (polls, reads, downloads) on dropped connections,
   * 5xx, 403, 429 and HTML pages in place of JSON, with backoff, until the solve's deadline.
   * An upload is retried only when the server provably never saw it.
   */
  retry?: Partial<RetryPolicy>;
  /** Overall deadline of each solve, ms, every request included. Default 30 minutes; `null` for none. */
  timeoutMs?: number | null;
  /**
   * How long a login or an upload waits out a server that refuses connections (or whose name does
   * not resolve) before the solve ends in an `unreachable` error, ms. Default 2 minutes. Once a
   * server has been unreachable that long, each new solve to it gives up after one attempt.
   */
  unreachableAfterMs?: number;
  /** Sees each request's method and URL (never a key): for logging. */
  onRequest?: (event: RequestEvent) => void;
  /**
   * Receives the machines' inspection events, sanitized (no file bytes, no keys): pass
   * `createBrowserInspector().inspect` or `createWebSocketInspector().inspect` from
   * `@statelyai/inspect`, or any function.
   */
  inspect?: InspectObserver;
  /**
   * Keep finished solves by content: a file solved before (renamed or copied too), with the same
   * upload options, is answered with no upload and no request. `{ dir }` keeps them in a folder
   * (Node); in a browser pass a store `{ get(key), set(key, value) }`.
   */
  cache?: SolveCacheOption;
}

export const DEFAULT_TIMEOUT_MS = 30 * 60_000;

/** Every SessionOptions key: the compiler checks the list is complete and has no stranger. */
const SESSION_OPTIONS = {
  apiKey: true,
  apiUrl: true,
  sharedStore: true,
  transport: true,
  polling: true,
  retry: true,
  timeoutMs: true,
  unreachableAfterMs: true,
  stallTimeoutMs: true,
  maxJsonBytes: true,
  maxFileBytes: true,
  onRequest: true,
  inspect: true,
  cache: true,
} as const satisfies Record<keyof SessionOptions, true>;
const SESSION_OPTION_NAMES = Object.keys(SESSION_OPTIONS);

/** The API key as a Session would read it at its first login; throws AuthError when there is none. */
export function resolveApiKey(explicit: string | undefined): string {
  if (explicit !== undefined) {
    if (typeof explicit !== 'string' || explicit.trim() === '') throw new ValidationError('apiKey', '(empty)', 'your nova API key');
    return explicit.trim();
  }
  const fromEnv = platform().env('ASTROMETRY_API_KEY')?.trim();
  if (fromEnv) return fromEnv;
  const fromFile = platform().readKeyFile();
  if (fromFile) return fromFile;
  const file = platform().keyFilePath();
  throw new AuthError(
    `No API key: pass apiKey, set ASTROMETRY_API_KEY${file ? `, or write it to ${file}` : ''}. Find yours at https://nova.astrometry.net/api_help.`,
  );
}

function resolveApiUrls(explicit: string | readonly string[] | undefined): string[] {
  if (explicit === undefined || typeof explicit === 'string') return [resolveApiUrl(explicit)];
  if (!Array.isArray(explicit) || explicit.length === 0) {
    throw new ValidationError('apiUrl', explicit, 'an http(s) URL of a nova API, or a non-empty list of them');
  }
  return [...new Set(explicit.map((url) => resolveApiUrl(url)))];
}

function resolveApiUrl(explicit: string | undefined): string {
  const url = explicit ?? platform().env('ASTROMETRY_API_URL') ?? DEFAULT_API_URL;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new ValidationError('apiUrl', url, 'an http(s) URL of a nova API, such as https://nova.astrometry.net/api/');
  }
  return normaliseApiUrl(url);
}

/**
 * The caller's inspector, behind the sanitizer, which is loaded on first use: a bundle without
 * an inspector does not carry it. Events that come before it has loaded (the first microtasks)
 * are kept and delivered, sanitized, in order; none reaches the inspector unsanitized.
 */
function sanitizedOnceLoaded(target: InspectObserver): (event: InspectionEvent) => void {
  let deliver: ((event: InspectionEvent) => void) | undefined;
  const early: InspectionEvent[] = [];
  let failed = false;
  import('../inspect/sanitize.js').then(
    ({ sanitizedInspector }) => {
      deliver = sanitizedInspector(target);
      for (const event of early.splice(0)) deliver(event);
    },
    // Without the sanitizer nothing is delivered at all (never an unsanitized event), and
    // nothing is kept.
    () => {
      failed = true;
      early.length = 0;
    },
  );
  return (event) => {
    if (deliver) deliver(event);
    else if (!failed) early.push(event);
  };
}

/** The request limits a Session was given, each checked; the defaults apply to the rest. */
function resolveLimits(options: RequestLimits): RequestLimits {
  const limits: { -readonly [K in keyof RequestLimits]: RequestLimits[K] } = {};
  for (const name of ['stallTimeoutMs', 'maxJsonBytes', 'maxFileBytes'] as const) {
    if (options[name] !== undefined) limits[name] = checkPositive(name, options[name]);
  }
  return limits;
}

function checkPositive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new ValidationError(name, value, 'a number greater than 0');
  return value;
}

/** A solve's own deadline, as a call gives it: milliseconds, or `null` for none. */
export function checkTimeoutMs(value: unknown, name = 'timeoutMs'): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ValidationError(name, value, 'milliseconds greater than 0, or null for no deadline');
  }
  return value;
}

export class Session {
  /** The first server (account questions go there). */
  readonly apiUrl: string;
  /** Every server solves are spread over. */
  readonly apiUrls: readonly string[];
  readonly schedule: PollSchedule;
  readonly timeoutMs: number | null;
  /** The sanitized inspector every actor of this session reports to, if any. */
  readonly inspect: ((event: import('xstate').InspectionEvent) => void) | undefined;
  /** Where finished solves are kept by content, if anywhere (the `cache` option). */
  readonly cache: SolveCacheStore | undefined;
  readonly #servers: ServerPool;
  readonly #memory: MemoryStore = new Map();
  readonly #machine: ReturnType<typeof provideSolveTasks>;
  readonly #dependencies: MachineDependencies;
  #endingMachine: EndingSolveMachine | undefined;
  /** Built on the first account question: most sessions never ask one, and bundles need not carry it. */
  #accountMachine: ReturnType<typeof provideAccountTasks> | undefined;

  constructor(options: SessionOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new ValidationError('options', options, 'an object of client options');
    refuseUnknownOptions(options, SESSION_OPTION_NAMES, 'new Client() and new Session()');
    this.apiUrls = resolveApiUrls(options.apiUrl);
    this.apiUrl = this.apiUrls[0] as string;
    // An explicit key is checked now; otherwise the environment and the key file are read at the
    // first login, so a Session that only reads public results needs no key at all.
    if (options.apiKey !== undefined) resolveApiKey(options.apiKey);
    this.#servers = new ServerPool(this.apiUrls, () => resolveApiKey(options.apiKey), options.sharedStore ?? false);
    // The schedule of the most demanding server (nova's 5 s floor) serves them all.
    this.schedule = resolvePollSchedule(this.apiUrls.find(isPublicNova) ?? this.apiUrl, options.polling);
    this.timeoutMs = options.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : checkTimeoutMs(options.timeoutMs);
    this.inspect = options.inspect ? sanitizedOnceLoaded(options.inspect) : undefined;
    this.cache = resolveCacheOption(options.cache);
    const runtime: MachineDependencies = {
      transport: options.transport ?? platform().defaultTransport(),
      servers: this.#servers,
      memory: this.#memory,
      retry: resolveRetryPolicy(options.retry),
      ...(options.onRequest ? { onRequest: options.onRequest } : {}),
      limits: resolveLimits(options),
      ...(options.unreachableAfterMs !== undefined ? { unreachableAfterMs: checkPositive('unreachableAfterMs', options.unreachableAfterMs) } : {}),
    };
    this.#dependencies = runtime;
    this.#machine = provideSolveTasks(runtime);
  }

  /** Ids of every job of this account, in no particular order (nova has no paging). */
  myJobs(options: { signal?: AbortSignal } = {}): Promise<number[]> {
    return this.#ask({ kind: 'myJobs' }, options.signal);
  }

  /** Ids of jobs whose tags contain `query` (or equal it, with `exact`), across all users. */
  jobsByTag(query: string, options: { exact?: boolean; signal?: AbortSignal } = {}): Promise<number[]> {
    if (typeof query !== 'string' || query === '') throw new ValidationError('query', query, 'a non-empty tag text');
    return this.#ask({ kind: 'jobsByTag', query, exact: options.exact ?? false }, options.signal);
  }

  /**
   * What the server says of itself (`GET /api/server_info`): solver, installed index coverage
   * (the field widths it can solve) and limits. `null` on nova, which has no such endpoint.
   */
  async serverInfo(options: { signal?: AbortSignal } = {}): Promise<ServerInfo | null> {
    return (await this.#run({ kind: 'serverInfo' }, options.signal)).serverInfo;
  }

  /** UserImage ids of a submission (not Image ids: nova names them confusingly). */
  submissionImages(subid: number, options: { signal?: AbortSignal } = {}): Promise<number[]> {
    if (!Number.isInteger(subid) || subid <= 0) throw new ValidationError('subid', subid, 'a positive integer submission id');
    return this.#ask({ kind: 'submissionImages', subid }, options.signal);
  }

  async #ask(query: AccountQuery, signal: AbortSignal | undefined): Promise<number[]> {
    return (await this.#run(query, signal)).ids ?? [];
  }

  /** Runs one account query as its own machine (loaded with the first): see runAccountQuery. */
  async #run(query: AccountQuery, signal: AbortSignal | undefined): Promise<AccountOutput> {
    const tasks = await import('../tasks/account-tasks.js');
    this.#accountMachine ??= tasks.provideAccountTasks(this.#dependencies);
    return tasks.runAccountQuery(this.#accountMachine, query, { timeoutMs: this.timeoutMs, inspect: this.inspect, signal });
  }

  /** Whether a session key is held now. */
  get loggedIn(): boolean {
    return this.#servers.primary.login.hasSession;
  }

  /** The solve machine bound to this session's transport and login: use it with `createActor`. */
  get machine(): ReturnType<typeof provideSolveTasks> {
    return this.#machine;
  }

  /**
   * The same solve machine that ends once settled (`endsWhenSettled`), with the same tasks (one
   * login, one set of upload tokens): the batch's children, whose done event is all it hears.
   */
  get endingMachine(): EndingSolveMachine {
    this.#endingMachine ??= createSolveMachine(this.#dependencies.now ?? systemClock, { endsWhenSettled: true }).provide(this.#machine.implementations as never);
    return this.#endingMachine;
  }

  /** @internal Bytes and Blobs waiting to be uploaded, kept out of snapshots. */
  get memory(): MemoryStore {
    return this.#memory;
  }

  /** Solves in flight on each server, and whether it takes new uploads now. */
  get servers(): { apiUrl: string; inFlight: number; up: boolean; loggedIn: boolean }[] {
    const now = Date.now();
    return this.#servers.servers.map((s) => ({ apiUrl: s.apiUrl, inFlight: s.inFlight, up: s.downUntil <= now, loggedIn: s.login.hasSession }));
  }

  toJSON(): { apiUrl: string; loggedIn: boolean } {
    return { apiUrl: this.apiUrl, loggedIn: this.loggedIn };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Session { apiUrl: '${this.apiUrl}', loggedIn: ${this.loggedIn} }`;
  }
}
