/**
 * Retries for requests that are safe to repeat: network errors, 5xx and 429.
 *
 * An upload is not safe to repeat once its body may have reached the server, so callers mark
 * each request `idempotent` or not; a non-idempotent request is retried only when the server
 * provably did not process it (the connection was refused, or a 429 came back).
 */
import { AbortedError, AstrometryNetError, HttpError, NetworkError, isAbortError } from '../errors.js';

export interface RetryPolicy {
  /** Attempts after the first. Default 3. */
  retries: number;
  /** First backoff, milliseconds. Default 1000; doubles each attempt. */
  baseDelayMs: number;
  /** Cap on one backoff (and on an honoured Retry-After), milliseconds. Default 30 000. */
  maxDelayMs: number;
  /** Floor on every backoff, milliseconds: 5000 against nova.astrometry.net, whose front end blocks fast clients. */
  minDelayMs?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 1000, maxDelayMs: 30_000 };

// Error codes that mean the request never reached the server.
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

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
    return idempotent && error.status >= 500;
  }
  if (error instanceof NetworkError) return idempotent || neverReachedServer(error);
  return false;
}

export function backoffDelay(policy: RetryPolicy, attempt: number, error: unknown, random: () => number = Math.random): number {
  const floor = policy.minDelayMs ?? 0;
  if (error instanceof HttpError && error.retryAfterSeconds !== undefined) {
    return Math.max(floor, Math.min(error.retryAfterSeconds * 1000, policy.maxDelayMs));
  }
  const exponential = Math.min(policy.baseDelayMs * 2 ** attempt, policy.maxDelayMs);
  // Full jitter keeps a fleet of clients that failed together from retrying together.
  return Math.max(floor, exponential / 2 + (random() * exponential) / 2);
}

export async function withRetry<T>(
  attempt: () => Promise<T>,
  options: { policy: RetryPolicy; idempotent: boolean; signal?: AbortSignal; onRetry?: (error: AstrometryNetError, delayMs: number) => void },
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (n >= options.policy.retries || !isRetryable(error, options.idempotent)) throw error;
      const delay = backoffDelay(options.policy, n, error);
      options.onRetry?.(error as AstrometryNetError, delay);
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
