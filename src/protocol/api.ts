/**
 * Every nova operation as one async function. These are the bodies of the machines' invoked
 * actors; nothing else calls them, so every request happens inside a statechart state.
 */
import { ApiError, AuthError, NotFoundError, UnexpectedContentError, ValidationError } from '../errors.js';
import { readStream, type ByteStream, type MemoryStore, type UploadDescriptor } from '../client/solve-input.js';
import type { Annotation, Calibration, JobInfo, JobStatus, SubmissionStatus, UploadResult } from './models.js';
import type { WireUploadOptions } from './upload-options.js';
import type { UploadSource } from '../transport/transport.js';
import * as decode from './decode.js';
import { exchange, exchangeJson, parseJsonBody, type ExchangeContext } from './exchange.js';
import type { RequestBody, TransportResponse } from '../transport/transport.js';
import { FILE_RESULTS, type FileKindSpec, type FileResultKind, type ResultFile } from './result-kinds.js';
import { apiEndpoint, siteRoot } from './urls.js';

const form = (json: object) => ({ kind: 'form' as const, fields: { 'request-json': JSON.stringify(json) } });

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

export async function upload(
  ctx: ExchangeContext,
  session: string,
  descriptor: UploadDescriptor,
  options: WireUploadOptions,
  memory: MemoryStore,
): Promise<UploadResult> {
  if (descriptor.kind === 'url') {
    const url = apiEndpoint(ctx.apiUrl, 'url_upload');
    const body = form({ ...options, session, url: descriptor.url });
    return exchangeJson(ctx, { method: 'POST', url, body, idempotent: false }, (json) => decode.decodeUpload(json, url));
  }
  const url = apiEndpoint(ctx.apiUrl, 'upload');
  if (descriptor.kind === 'sourceList') {
    // x/y lists ride inside request-json; nova builds the FITS table itself.
    const body = form({ ...options, session, x: descriptor.x, y: descriptor.y });
    return exchangeJson(ctx, { method: 'POST', url, body, idempotent: false }, (json) => decode.decodeUpload(json, url));
  }
  const body: RequestBody = {
    kind: 'multipart',
    fields: { 'request-json': JSON.stringify({ ...options, session }) },
    file: { field: 'file', filename: descriptor.filename, source: await uploadSource(descriptor, memory) },
  };
  return exchangeJson(ctx, { method: 'POST', url, body, idempotent: false }, (json) => decode.decodeUpload(json, url));
}

async function uploadSource(descriptor: UploadDescriptor & { kind: 'file' | 'memory' }, memory: MemoryStore): Promise<UploadSource> {
  if (descriptor.kind === 'file') return { kind: 'path', path: descriptor.path };
  let value = memory.get(descriptor.ref);
  if (value !== undefined && !(value instanceof Uint8Array) && !(typeof Blob !== 'undefined' && value instanceof Blob)) {
    // A stream can be read once: keep its bytes so a second attempt sends the same upload.
    value = await readStream(value as ByteStream);
    memory.set(descriptor.ref, value);
  }
  if (value === undefined) {
    // Bytes live only in the process they were handed to; a solve restored elsewhere cannot send them.
    throw new ValidationError('bytes', descriptor.filename, 'bytes held by this process: a solve restored in another process can upload only a file path or a URL');
  }
  return value instanceof Uint8Array ? { kind: 'bytes', bytes: value } : { kind: 'blob', blob: value };
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

function getJson<T>(ctx: ExchangeContext, path: string, decodeValue: (json: Json, url: string) => T): Promise<T> {
  const url = apiEndpoint(ctx.apiUrl, path);
  return exchangeJson(ctx, { method: 'GET', url, idempotent: true }, (json) => decodeValue(json, url));
}

export function calibration(ctx: ExchangeContext, jobId: number): Promise<Calibration | undefined> {
  return getJson(ctx, `jobs/${jobId}/calibration`, decode.decodeCalibration);
}

export function info(ctx: ExchangeContext, jobId: number): Promise<JobInfo> {
  return getJson(ctx, `jobs/${jobId}/info`, decode.decodeInfo);
}

export function tags(ctx: ExchangeContext, jobId: number, which: 'tags' | 'machine_tags' | 'objects_in_field'): Promise<string[]> {
  return getJson(ctx, `jobs/${jobId}/${which}`, (json, url) => decode.decodeTags(json, url, which === 'objects_in_field' ? 'objects_in_field' : 'tags'));
}

export function annotations(ctx: ExchangeContext, jobId: number, nbright?: number): Promise<Annotation[] | undefined> {
  const query = nbright === undefined ? '' : `?nbright=${nbright}`;
  return getJson(ctx, `jobs/${jobId}/annotations${query}`, decode.decodeAnnotations);
}

/**
 * `GET /api/server_info`, an extension of this package's `serve`. nova has no such endpoint and
 * answers an unknown path with its home page (HTML, 200): that, or a 404, means "not here".
 */
export async function serverInfo(ctx: ExchangeContext): Promise<Record<string, unknown> | null> {
  const url = apiEndpoint(ctx.apiUrl, 'server_info');
  try {
    return await exchange(ctx, {
      method: 'GET',
      url,
      idempotent: true,
      answer: 'json',
      read: (response) => {
        if ((response.headers['content-type'] ?? '').startsWith('text/html')) return null;
        try {
          const json = parseJsonBody(response, url);
          return typeof json.server === 'string' ? json : null;
        } catch {
          return null;
        }
      },
    });
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
}

export function myJobs(ctx: ExchangeContext, session: string): Promise<number[]> {
  const url = apiEndpoint(ctx.apiUrl, 'myjobs/');
  return exchangeJson(ctx, { method: 'POST', url, body: form({ session }), idempotent: true }, (json) => decode.decodeIdList(json, url, 'jobs'));
}

export function jobsByTag(ctx: ExchangeContext, query: string, exact: boolean): Promise<number[]> {
  const params = new URLSearchParams({ query });
  if (exact) params.set('exact', '1');
  return getJson(ctx, `jobs_by_tag?${params}`, (json, url) => decode.decodeIdList(json, url, 'job_ids'));
}

export function submissionImages(ctx: ExchangeContext, session: string, subid: number): Promise<number[]> {
  const url = apiEndpoint(ctx.apiUrl, 'submission_images');
  const body = form({ session, subid });
  return exchangeJson(ctx, { method: 'POST', url, body, idempotent: true }, (json) => decode.decodeIdList(json, url, 'image_ids'));
}

/**
 * Downloads a result file. nova's human gate wants any Referer (docs/nova-protocol.md#referer-gate); a missing file
 * comes back as an HTML 500 or, for some kinds, as HTML with status 200, so the content type
 * decides whether this is the file.
 */
export function resultFile(ctx: ExchangeContext, kind: FileResultKind, jobId: number): Promise<ResultFile> {
  const spec = FILE_RESULTS[kind];
  const url = `${siteRoot(ctx.apiUrl)}${spec.path}/${jobId}`;
  return exchange(ctx, {
    method: 'GET',
    url,
    headers: { referer: apiEndpoint(ctx.apiUrl, 'login') },
    idempotent: true,
    answer: 'file',
    read: (response) => {
      const contentType = (response.headers['content-type'] ?? '').toLowerCase();
      const details = { url, status: response.status, contentType, bodyStart: new TextDecoder().decode(response.body.subarray(0, 120)) };
      // An HTML page in place of the file is the front end or a gate: asking again may work.
      if (response.status !== 200 || !spec.accepts.some((prefix) => contentType.startsWith(prefix))) {
        throw new UnexpectedContentError(`the ${kind} file`, { ...details, transient: true });
      }
      // The right type with no usable content (an empty WCS, a FITS file without its header) is
      // not a result, and asking again would give the same bytes.
      const problem = fileProblem(spec, response.body);
      if (problem) throw new UnexpectedContentError(`the ${kind} file (${problem})`, details, { jobId });
      return { kind, filename: spec.filename, contentType, bytes: response.body };
    },
  });
}

const FITS_MAGIC = 'SIMPLE  =';

function fileProblem(spec: FileKindSpec, bytes: Uint8Array): string | undefined {
  if (bytes.byteLength === 0) return 'it is empty';
  if (spec.format === 'fits') {
    const start = new TextDecoder().decode(bytes.subarray(0, FITS_MAGIC.length));
    if (start !== FITS_MAGIC || bytes.byteLength < 2880) return 'it does not start with a FITS header';
  }
  return undefined;
}
