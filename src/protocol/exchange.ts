/**
 * One nova exchange: send a request through the transport, then decide what the answer is.
 *
 * nova answers JSON as text/plain, API errors with HTTP 200, unknown ids with an HTML 404, and
 * typos with its HTML home page at 200. Everything that is not the expected kind of body
 * becomes a typed error here, so no caller ever parses HTML as JSON or saves it as a file.
 */
import {
  ApiError,
  AstrometryNetError,
  HttpError,
  NotFoundError,
  SessionExpiredError,
  UnexpectedContentError,
  toAstrometryNetError,
} from '../errors.js';
import type { RequestBody, Transport, TransportResponse } from '../transport/types.js';
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from './retry.js';

export interface ExchangeContext {
  readonly transport: Transport;
  readonly apiUrl: string;
  readonly retry?: RetryPolicy;
  readonly signal?: AbortSignal;
  /** Called with each request's method and URL: what `--verbose` prints. Never sees bodies. */
  readonly onRequest?: (event: { method: string; url: string }) => void;
  readonly onUploadProgress?: (sentBytes: number, totalBytes: number | undefined) => void;
  /** Overrides how long a safe request waits for its answer (default one minute). */
  readonly answerTimeoutMs?: number;
}

export interface ExchangeRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly body?: RequestBody;
  readonly headers?: Readonly<Record<string, string>>;
  /** Whether sending it twice is harmless. Uploads are not. */
  readonly idempotent: boolean;
}

// A poll or a download that has not started answering in a minute is stuck, not slow: fail it
// (and retry it, being idempotent). Uploads keep the transport's long default, since the server
// answers only after it stored the whole body.
const ANSWER_TIMEOUT_MS = 60_000;

const decoder = new TextDecoder();

/** Sends a request, retrying what is safe to retry; returns any HTTP answer below 400 or 404. */
export async function exchange(ctx: ExchangeContext, req: ExchangeRequest): Promise<TransportResponse> {
  return withRetry(
    async () => {
      ctx.onRequest?.({ method: req.method, url: req.url });
      let response: TransportResponse;
      try {
        response = await ctx.transport.request({
          method: req.method,
          url: req.url,
          ...(req.body ? { body: req.body } : {}),
          ...(req.headers ? { headers: req.headers } : {}),
          ...(req.idempotent ? { timeoutMs: ctx.answerTimeoutMs ?? ANSWER_TIMEOUT_MS } : {}),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
          ...(ctx.onUploadProgress ? { onUploadProgress: ctx.onUploadProgress } : {}),
        });
      } catch (error) {
        throw toAstrometryNetError(error);
      }
      if (response.status === 404) throw new NotFoundError(req.url);
      if (response.status >= 400) {
        const retryAfter = parseRetryAfter(response.headers['retry-after']);
        throw new HttpError(response.status, req.url, retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter });
      }
      return response;
    },
    { policy: ctx.retry ?? DEFAULT_RETRY, idempotent: req.idempotent, ...(ctx.signal ? { signal: ctx.signal } : {}) },
  );
}

/** An exchange whose answer must be a nova JSON object; `status: "error"` becomes ApiError. */
export async function exchangeJson(ctx: ExchangeContext, req: ExchangeRequest): Promise<Record<string, unknown>> {
  const response = await exchange(ctx, req);
  const json = parseJsonBody(response, req.url);
  if (json.status === 'error') throw apiErrorFrom(json.errormessage);
  return json;
}

export function parseJsonBody(response: TransportResponse, url: string): Record<string, unknown> {
  const contentType = response.headers['content-type'] ?? '';
  const text = decoder.decode(response.body);
  const unexpected = () =>
    new UnexpectedContentError('a JSON answer', { url, status: response.status, contentType, bodyStart: text.slice(0, 120) });
  // nova serves JSON as text/plain; HTML here is its home page (a wrong path) or an error page.
  if (response.status !== 200 || contentType.startsWith('text/html')) throw unexpected();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw unexpected();
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw unexpected();
  return value as Record<string, unknown>;
}

function apiErrorFrom(message: unknown): AstrometryNetError {
  const text = typeof message === 'string' ? message : JSON.stringify(message);
  if (text.startsWith('no session with key') || text === 'user is not authenticated.') {
    return new SessionExpiredError('The session expired on the server; log in again.');
  }
  return new ApiError(text);
}

function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}
