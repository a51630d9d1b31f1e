/**
 * Retries for requests that are safe to repeat, until the solve's deadline.
 *
 * nova's front end answers polls with maintenance pages, 403 blocks and 5xx now and then; one
 * such answer must not end a solve that would have finished. An upload is not safe to repeat
 * once its body may have reached the server, so callers mark each request `idempotent` or not;
 * a non-idempotent request is retried only when the server provably did not process it (the
 * connection was refused, or a 429 came back).
 */
import { AbortedError, AstrometryNetError, HttpError, NetworkError, UnexpectedContentError, UnreachableError, ValidationError, isAbortError } from '../errors.js';

export interface RetryPolicy {
  /** Attempts after the first. Default `Infinity`: safe requests are retried until the deadline. */
  retries: number;
  /** First backoff, milliseconds. Default 1000; doubles each attempt. */
  baseDelayMs: number;
  /** Cap on one backoff, milliseconds. Default 60 000. */
  maxDelayMs: number;
  /** Floor on every backoff, milliseconds: 5000 against nova.astrometry.net, whose front end blocks fast clients. */
  minDelayMs?: number;
  /** Floor on the backoff after a 403, milliseconds. Default 60 000: asking a blocking front end sooner extends the block. */
  forbiddenDelayMs?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: Number.POSITIVE_INFINITY, baseDelayMs: 1000, maxDelayMs: 60_000 };

/** A 403 from nova's front end is a block on fast clients: asking again sooner only extends it. */
export const FORBIDDEN_MIN_DELAY_MS = 60_000;
/** The longest Retry-After honoured; a longer one is met by the deadline instead. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

const RETRY_KEYS = ['retries', 'baseDelayMs', 'maxDelayMs', 'minDelayMs', 'forbiddenDelayMs'];

/** Merges overrides into the default policy, refusing values that make no sense. */
export function resolveRetryPolicy(overrides: Partial<RetryPolicy> | undefined): RetryPolicy {
  if (overrides !== undefined && (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides))) {
    throw new ValidationError('retry', overrides, 'an object such as { retries: 5, baseDelayMs: 1000 }');
  }
  for (const key of Object.keys(overrides ?? {})) {
    if (!RETRY_KEYS.includes(key)) {
      throw new ValidationError(`retry.${key}`, (overrides as Record<string, unknown>)[key], `a known setting: ${RETRY_KEYS.join(', ')}`);
    }
  }
  const policy = { ...DEFAULT_RETRY, ...overrides };
  const { retries } = policy;
  if (typeof retries !== 'number' || !(retries === Number.POSITIVE_INFINITY || (Number.isInteger(retries) && retries >= 0))) {
    throw new ValidationError('retry.retries', retries, 'an integer of 0 or more, or Infinity (until the deadline)');
  }
  for (const key of ['baseDelayMs', 'maxDelayMs', 'minDelayMs', 'forbiddenDelayMs'] as const) {
    const v = policy[key];
    if (v === undefined && (key === 'minDelayMs' || key === 'forbiddenDelayMs')) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ValidationError(`retry.${key}`, v, 'milliseconds, 0 or more');
  }
  if (policy.maxDelayMs < policy.baseDelayMs) {
    throw new ValidationError('retry.maxDelayMs', policy.maxDelayMs, `at least retry.baseDelayMs (${policy.baseDelayMs})`);
  }
  return policy;
}

// Error codes that mean the request never reached the server.
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/** The system error code behind a network error (ECONNREFUSED, ENOTFOUND…), or its message. */
function errorCode(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return (error as Error)?.message ?? 'unreachable';
}

export function neverReachedServer(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export function isRetryable(error: unknown, idempotent: boolean): boolean {
  if (error instanceof HttpError) {
    if (error.status === 429) return true;
    return idempotent && (error.status >= 500 || error.status === 403 || error.status === 408);
  }
  if (error instanceof NetworkError) return idempotent || neverReachedServer(error);
  if (error instanceof UnexpectedContentError) return idempotent && error.transient;
  return false;
}

export function backoffDelay(policy: RetryPolicy, attempt: number, error: unknown, random: () => number = Math.random): number {
  let floor = policy.minDelayMs ?? 0;
  if (error instanceof HttpError && error.status === 403) floor = Math.max(floor, policy.forbiddenDelayMs ?? FORBIDDEN_MIN_DELAY_MS);
  if (error instanceof HttpError && error.retryAfterSeconds !== undefined) {
    return Math.max(floor, Math.min(error.retryAfterSeconds * 1000, MAX_RETRY_AFTER_MS));
  }
  const exponential = Math.min(policy.baseDelayMs * 2 ** attempt, policy.maxDelayMs);
  // Full jitter keeps a fleet of clients that failed together from retrying together.
  return Math.max(floor, exponential / 2 + (random() * exponential) / 2);
}

export interface RetryOptions {
  policy: RetryPolicy;
  idempotent: boolean;
  signal?: AbortSignal;
  /** Epoch ms: no retry is scheduled past it; the last error is thrown instead. */
  deadline?: number | null;
  /** The clock `deadline` is kept in. Default: the system clock. */
  now?: () => number;
  /**
   * Retries allowed for a page in place of the expected body (default: as many as the policy).
   * A file download gets few: nova answers a file it will never have with an HTML page too.
   */
  contentRetries?: number;
  /** `false`: a refused connection is thrown at once (another server can take the request). */
  retryUnreachable?: boolean;
  /**
   * How long a server may refuse connections (or fail to resolve) before the request ends in an
   * UnreachableError instead of another retry. Unset: retried until the deadline.
   */
  unreachable?: UnreachableWatch;
  /** Told before each wait: the error, the wait, and how many attempts were made. */
  onRetry?: (error: AstrometryNetError, delayMs: number, attempts: number) => void;
}

/** Keeps the time since a server was last reachable, shared by every request to it. */
export interface UnreachableWatch {
  /** How long refusals may go on before this request gives up (Infinity: until the deadline). */
  readonly afterMs: number;
  readonly host: string;
  /** A connection failed before anything was sent: the streak starts (or goes on). Returns when it started. */
  refused(now: number): number;
  /** An answer came back: the server is reachable, the streak ends. */
  reached(): void;
}

export async function withRetry<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  let contentFailures = 0;
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (n >= options.policy.retries || !isRetryable(error, options.idempotent)) throw error;
      if (error instanceof UnexpectedContentError && ++contentFailures > (options.contentRetries ?? Number.POSITIVE_INFINITY)) throw error;
      if (options.retryUnreachable === false && neverReachedServer(error)) throw error;
      const now = (options.now ?? Date.now)();
      if (options.unreachable && neverReachedServer(error)) {
        const since = options.unreachable.refused(now);
        if (now - since >= options.unreachable.afterMs) {
          throw new UnreachableError(
            `Cannot reach ${options.unreachable.host}: ${errorCode(error)} for ${Math.round((now - since) / 1000)} s (nothing was sent).`,
            options.unreachable.host,
            { cause: error },
          );
        }
      }
      const delay = backoffDelay(options.policy, n, error);
      const deadline = options.deadline ?? null;
      if (deadline !== null && now + delay >= deadline) throw error;
      options.onRetry?.(error as AstrometryNetError, delay, n + 1);
      await sleep(delay, options.signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError('Aborted while waiting.'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError('Aborted while waiting.'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export { isAbortError };
