/**
 * Every nova operation as one async function. These are the bodies of the machines' invoked
 * actors; nothing else calls them, so every request happens inside a statechart state.
 */
import { ApiError, AuthError } from '../errors.js';
import type { Calibration, JobStatus, SubmissionStatus, UploadResult } from './models.js';
import type { WireUploadOptions } from './upload-options.js';
import type { UploadSource } from '../transport/transport.js';
import * as decode from './decode.js';
import { exchangeJson, type ExchangeContext } from './exchange.js';
import type { RequestBody, TransportResponse } from '../transport/transport.js';
import { apiEndpoint, siteRoot } from './urls.js';

/** A nova request body: the JSON in the `request-json` form field. */
export const form = (json: object) => ({ kind: 'form' as const, fields: { 'request-json': JSON.stringify(json) } });

export async function login(ctx: ExchangeContext, apiKey: string): Promise<{ session: string; message: string }> {
  const url = apiEndpoint(ctx.apiUrl, 'login');
  // A repeated login only makes a second session: harmless, so it may be retried.
  try {
    return await exchangeJson(ctx, { method: 'POST', url, body: form({ apikey: apiKey }), idempotent: true }, (json) => decode.decodeLogin(json, url));
  } catch (error) {
    // nova refuses a key with a plain API error ("bad apikey"); to a caller that is an auth failure.
    if (error instanceof ApiError) {
      throw new AuthError(`The server refused the API key (${error.serverMessage}). Check it at ${siteRoot(ctx.apiUrl)}api_help.`, { cause: error });
    }
    throw error;
  }
}

/**
 * What an upload sends: a URL for the server to fetch, a source list, or a file's bytes from
 * wherever they are (a path, bytes, a Blob). The tasks resolve a solve's upload descriptor to
 * this; the protocol never sees the session's memory store.
 */
export type UploadBody =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'sourceList'; readonly x: readonly number[]; readonly y: readonly number[] }
  | { readonly kind: 'file'; readonly filename: string; readonly source: UploadSource };

export function upload(ctx: ExchangeContext, session: string, what: UploadBody, options: WireUploadOptions): Promise<UploadResult> {
  if (what.kind === 'url') {
    const url = apiEndpoint(ctx.apiUrl, 'url_upload');
    const body = form({ ...options, session, url: what.url });
    return exchangeJson(ctx, { method: 'POST', url, body, idempotent: false }, (json) => decode.decodeUpload(json, url));
  }
  const url = apiEndpoint(ctx.apiUrl, 'upload');
  if (what.kind === 'sourceList') {
    // x/y lists ride inside request-json; nova builds the FITS table itself.
    const body = form({ ...options, session, x: what.x, y: what.y });
    return exchangeJson(ctx, { method: 'POST', url, body, idempotent: false }, (json) => decode.decodeUpload(json, url));
  }
  const body: RequestBody = {
    kind: 'multipart',
    fields: { 'request-json': JSON.stringify({ ...options, session }) },
    file: { field: 'file', filename: what.filename, source: what.source },
  };
  return exchangeJson(ctx, { method: 'POST', url, body, idempotent: false }, (json) => decode.decodeUpload(json, url));
}

/** Asks `serve` to hold a status read until it changes (nova ignores the parameters). */
export interface LongPoll {
  /** Seconds the client will wait for a held answer. */
  waitSeconds: number;
  /** The state token of the answer last seen, so an unchanged state is held, a changed one answered at once. */
  seen: string | null;
  /**
   * Hold until the resource reaches this milestone (`job`: the submission has a job or failed;
   * `done`: the job ended), skipping the steps between. Sent only to a server known to hold reads.
   */
  until?: 'job' | 'done';
}

/** A status read, with what the server said about holding the next one. */
export interface PollAnswer<T> {
  value: T;
  /** Present when the server holds status reads (x-long-poll); absent on nova. */
  hold: { token: string; seconds: number } | null;
  /**
   * Why a job failed, when the server can tell (`failure_reason`, an extension of `serve`: e.g.
   * no installed index covers the field's width). nova never says.
   */
  reason?: string;
}

function pollUrl(base: string, longPoll: LongPoll | undefined): string {
  if (!longPoll) return base;
  const params = new URLSearchParams({ wait: String(longPoll.waitSeconds) });
  if (longPoll.seen !== null) params.set('seen', longPoll.seen);
  if (longPoll.until !== undefined) params.set('until', longPoll.until);
  return `${base}?${params}`;
}

function holdFrom(response: TransportResponse): PollAnswer<unknown>['hold'] {
  const seconds = Number(response.headers['x-long-poll']);
  const token = response.headers['x-state'];
  return Number.isInteger(seconds) && seconds > 0 && token ? { token, seconds } : null;
}

function readStatus<T>(
  ctx: ExchangeContext,
  path: string,
  longPoll: LongPoll | undefined,
  decodeValue: (json: Json, url: string) => T,
  extra: (json: Json) => Partial<PollAnswer<T>> = () => ({}),
) {
  const base = apiEndpoint(ctx.apiUrl, path);
  const url = pollUrl(base, longPoll);
  return exchangeJson<PollAnswer<T>>(
    ctx,
    // Without a token or a milestone the server answers at once, so only a read that sends one
    // may be held, and only it gets the extra time before it counts as stalled.
    { method: 'GET', url, idempotent: true, ...(longPoll?.seen || longPoll?.until ? { holdMs: longPoll.waitSeconds * 1000 } : {}) },
    (json, response) => ({ value: decodeValue(json, base), hold: longPoll ? holdFrom(response) : null, ...extra(json) }),
  );
}

type Json = Record<string, unknown>;

export function submissionStatus(ctx: ExchangeContext, subid: number, longPoll?: LongPoll): Promise<PollAnswer<SubmissionStatus>> {
  return readStatus(ctx, `submissions/${subid}`, longPoll, decode.decodeSubmission);
}

export function jobStatus(ctx: ExchangeContext, jobId: number, longPoll?: LongPoll): Promise<PollAnswer<JobStatus>> {
  return readStatus(ctx, `jobs/${jobId}`, longPoll, decode.decodeJobStatus, (json) =>
    typeof json.failure_reason === 'string' && json.failure_reason !== '' ? { reason: json.failure_reason } : {},
  );
}

export function getJson<T>(ctx: ExchangeContext, path: string, decodeValue: (json: Json, url: string) => T): Promise<T> {
  const url = apiEndpoint(ctx.apiUrl, path);
  return exchangeJson(ctx, { method: 'GET', url, idempotent: true }, (json) => decodeValue(json, url));
}

export function calibration(ctx: ExchangeContext, jobId: number): Promise<Calibration | undefined> {
  return getJson(ctx, `jobs/${jobId}/calibration`, decode.decodeCalibration);
}
