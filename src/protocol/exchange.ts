/**
 * One nova exchange: send a request through the transport, then decide what the answer is.
 *
 * nova answers JSON as text/plain, API errors with HTTP 200, unknown ids with an HTML 404, and
 * typos with its HTML home page at 200. Everything that is not the expected kind of body
 * becomes a typed error here, so no caller ever parses HTML as JSON or saves it as a file. The
 * answer is read inside the retry loop: a maintenance page in place of JSON is asked again, as
 * a 5xx is, when the request is safe to repeat.
 */
import {
  ApiError,
  AstrometryNetError,
  HttpError,
  NotFoundError,
  SessionExpiredError,
  TimeoutError,
  UnexpectedContentError,
  toAstrometryNetError,
} from '../errors.js';
import type { RequestBody, Transport, TransportResponse } from '../transport/transport.js';
import { DEFAULT_RETRY, neverReachedServer, type RetryPolicy, type UnreachableWatch, withRetry } from './retry.js';

/** How long a request may stall and how large an answer may be: one type, passed whole from the Session down. */
export interface RequestLimits {
  /** No byte moving either way for this long fails a request (a safe one is retried). Default 60 000 ms. */
  readonly stallTimeoutMs?: number;
  /** Largest JSON answer accepted, bytes. Default 16 MiB. */
  readonly maxJsonBytes?: number;
  /** Largest result file accepted, bytes. Default 1 GiB. */
  readonly maxFileBytes?: number;
}

export interface ExchangeContext {
  readonly transport: Transport;
  readonly apiUrl: string;
  readonly retry?: RetryPolicy;
  readonly signal?: AbortSignal;
  /** Epoch ms after which nothing more is sent and a request in flight is cut off. */
  readonly deadline?: number | null;
  /** The clock `deadline` is kept in. Default: the system clock. */
  readonly now?: () => number;
  /** Called with each request's method and URL: what `--verbose` prints. Never sees bodies. */
  readonly onRequest?: (event: { method: string; url: string }) => void;
  readonly onUploadProgress?: (sentBytes: number, totalBytes: number | undefined) => void;
  /** The stall timeout and the answer caps; defaults for what is not set. */
  readonly limits?: RequestLimits;
  /** Whether a refused connection is waited out here (default) or thrown at once, for the caller to go elsewhere. */
  readonly retryUnreachable?: boolean;
  /** When set, a server that refuses connections this long ends the request in an UnreachableError. */
  readonly unreachable?: UnreachableWatch;
  /** Told before each retry: what went wrong, for a person, the attempts so far, and when the next goes. */
  readonly onRetry?: (notice: { problem: string; attempt: number; retryAt: number }) => void;
}

export interface ExchangeRequest<T> {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly body?: RequestBody;
  readonly headers?: Readonly<Record<string, string>>;
  /** Whether sending it twice is harmless. Uploads are not. */
  readonly idempotent: boolean;
  /** Milliseconds the server may hold the answer on purpose (a long poll), on top of the stall timeout. */
  readonly holdMs?: number;
  /** JSON or a file: which size cap applies. */
  readonly answer: 'json' | 'file';
  /** A cap of this request's own, below the JSON or file cap (a WCS file is small). */
  readonly maxBytes?: number;
  /** Retries of a page in place of the body (default: FILE_CONTENT_RETRIES for a file, the policy's for JSON). */
  readonly contentRetries?: number;
  /** Checks and decodes the answer; throws a typed error for a wrong one. */
  readonly read: (response: TransportResponse) => T;
}

export const DEFAULT_STALL_TIMEOUT_MS = 60_000;
/**
 * A page in place of a result file is asked again this many times, not until the deadline: nova
 * also answers a file it will never have (no annotated plot, no new FITS) with an HTML page.
 */
export const FILE_CONTENT_RETRIES = 2;
export const DEFAULT_MAX_JSON_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024;

const decoder = new TextDecoder();

/** Sends a request and reads its answer, retrying what is safe to retry until the deadline. */
export async function exchange<T>(ctx: ExchangeContext, req: ExchangeRequest<T>): Promise<T> {
  const deadline = ctx.deadline ?? null;
  const now = ctx.now ?? Date.now;
  return withRetry(
    async () => {
      if (deadline !== null && now() >= deadline) throw new TimeoutError('The deadline passed before the request could be sent.');
      ctx.onRequest?.({ method: req.method, url: req.url });
      let response: TransportResponse;
      try {
        response = await ctx.transport.request({
          method: req.method,
          url: req.url,
          ...(req.body ? { body: req.body } : {}),
          ...(req.headers ? { headers: req.headers } : {}),
          ...(deadline !== null ? { timeoutMs: Math.max(1, deadline - now()) } : {}),
          stallTimeoutMs: (ctx.limits?.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS) + (req.holdMs ?? 0),
          maxResponseBytes: Math.min(
            req.maxBytes ?? Number.POSITIVE_INFINITY,
            req.answer === 'json' ? (ctx.limits?.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES) : (ctx.limits?.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES),
          ),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
          ...(ctx.onUploadProgress ? { onUploadProgress: ctx.onUploadProgress } : {}),
        });
      } catch (error) {
        const typed = toAstrometryNetError(error);
        // Cut off by the solve's deadline, not by the server: that is the solve timing out.
        if (deadline !== null && now() >= deadline && typed.code === 'network') {
          throw new TimeoutError(`The deadline passed while waiting for ${req.method} ${req.url}.`, { cause: typed });
        }
        throw typed;
      }
      ctx.unreachable?.reached();
      if (response.status === 404) throw new NotFoundError(req.url);
      if (response.status >= 400) {
        const retryAfter = parseRetryAfter(response.headers['retry-after']);
        throw new HttpError(response.status, req.url, retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter });
      }
      return req.read(response);
    },
    {
      policy: ctx.retry ?? DEFAULT_RETRY,
      idempotent: req.idempotent,
      deadline,
      ...(ctx.now ? { now: ctx.now } : {}),
      ...(req.contentRetries !== undefined ? { contentRetries: req.contentRetries } : req.answer === 'file' ? { contentRetries: FILE_CONTENT_RETRIES } : {}),
      ...(ctx.retryUnreachable === false ? { retryUnreachable: false } : {}),
      ...(ctx.unreachable ? { unreachable: ctx.unreachable } : {}),
      ...(ctx.onRetry
        ? { onRetry: (error: AstrometryNetError, delayMs: number, attempt: number) => ctx.onRetry?.({ problem: describeProblem(error, req.url), attempt, retryAt: now() + delayMs }) }
        : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    },
  );
}

/** An exchange whose answer must be a nova JSON object; `status: "error"` becomes ApiError. */
export function exchangeJson<T>(
  ctx: ExchangeContext,
  req: Omit<ExchangeRequest<T>, 'answer' | 'read'>,
  decode: (json: Record<string, unknown>, response: TransportResponse) => T,
): Promise<T> {
  return exchange(ctx, {
    ...req,
    answer: 'json',
    read: (response) => {
      const json = parseJsonBody(response, req.url);
      if (json.status === 'error') throw apiErrorFrom(json.errormessage);
      return decode(json, response);
    },
  });
}

export function parseJsonBody(response: TransportResponse, url: string): Record<string, unknown> {
  const contentType = response.headers['content-type'] ?? '';
  const text = decoder.decode(response.body);
  // A page in place of JSON is the front end's (maintenance, block, catch-all): worth asking again.
  const unexpected = () =>
    new UnexpectedContentError('a JSON answer', { url, status: response.status, contentType, bodyStart: text.slice(0, 120), transient: true });
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

/** What went wrong with a request, in a few words a person can act on. */
function describeProblem(error: AstrometryNetError, url: string): string {
  let host = url;
  try {
    host = new URL(url).host;
  } catch {
    // keep the URL
  }
  if (neverReachedServer(error)) {
    let cause: unknown = error;
    let code = 'unreachable';
    for (let depth = 0; depth < 4 && cause; depth++, cause = (cause as { cause?: unknown }).cause) {
      const c = (cause as { code?: unknown }).code;
      if (typeof c === 'string' && /^E[A-Z_]+$|^UND_ERR/.test(c)) code = c;
    }
    return `cannot reach ${host}: ${code}`;
  }
  if (error instanceof HttpError) return `${host} answered HTTP ${error.status}`;
  if (error instanceof UnexpectedContentError) return `${host} answered ${error.contentType || 'a page'} (HTTP ${error.status}), not what was asked`;
  return `${host}: ${error.message}`;
}

function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}
