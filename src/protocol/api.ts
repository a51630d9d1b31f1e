/**
 * Every nova operation as one async function. These are the bodies of the machines' invoked
 * actors; nothing else calls them, so every request happens inside a statechart state.
 */
import { ApiError, AuthError, UnexpectedContentError, ValidationError } from '../errors.js';
import { readStream, type ByteStream, type MemoryStore, type UploadDescriptor } from '../inputs.js';
import type { Annotation, Calibration, JobInfo, JobStatus, SubmissionStatus, UploadResult } from '../models.js';
import type { WireUploadOptions } from '../options.js';
import type { UploadSource } from '../transport/types.js';
import * as decode from './decode.js';
import { exchange, exchangeJson, type ExchangeContext } from './exchange.js';
import { FILE_RESULTS, type FileResultKind, type ResultFile } from './results.js';
import { apiEndpoint, siteRoot } from './urls.js';

const form = (json: object) => ({ kind: 'form' as const, fields: { 'request-json': JSON.stringify(json) } });

export async function login(ctx: ExchangeContext, apiKey: string): Promise<{ session: string; message: string }> {
  const url = apiEndpoint(ctx.apiUrl, 'login');
  // A repeated login only makes a second session: harmless, so it may be retried.
  try {
    const json = await exchangeJson(ctx, { method: 'POST', url, body: form({ apikey: apiKey }), idempotent: true });
    return decode.decodeLogin(json, url);
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
    const json = await exchangeJson(ctx, {
      method: 'POST',
      url,
      body: form({ ...options, session, url: descriptor.url }),
      idempotent: false,
    });
    return decode.decodeUpload(json, url);
  }
  const url = apiEndpoint(ctx.apiUrl, 'upload');
  if (descriptor.kind === 'sourceList') {
    // x/y lists ride inside request-json; nova builds the FITS table itself.
    const body = form({ ...options, session, x: descriptor.x, y: descriptor.y });
    return decode.decodeUpload(await exchangeJson(ctx, { method: 'POST', url, body, idempotent: false }), url);
  }
  const json = await exchangeJson(ctx, {
    method: 'POST',
    url,
    body: {
      kind: 'multipart',
      fields: { 'request-json': JSON.stringify({ ...options, session }) },
      file: { field: 'file', filename: descriptor.filename, source: await uploadSource(descriptor, memory) },
    },
    idempotent: false,
  });
  return decode.decodeUpload(json, url);
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

export async function submissionStatus(ctx: ExchangeContext, subid: number): Promise<SubmissionStatus> {
  const url = apiEndpoint(ctx.apiUrl, `submissions/${subid}`);
  return decode.decodeSubmission(await exchangeJson(ctx, { method: 'GET', url, idempotent: true }), url);
}

export async function jobStatus(ctx: ExchangeContext, jobId: number): Promise<JobStatus> {
  const url = apiEndpoint(ctx.apiUrl, `jobs/${jobId}`);
  return decode.decodeJobStatus(await exchangeJson(ctx, { method: 'GET', url, idempotent: true }), url);
}

export async function calibration(ctx: ExchangeContext, jobId: number): Promise<Calibration | undefined> {
  const url = apiEndpoint(ctx.apiUrl, `jobs/${jobId}/calibration`);
  return decode.decodeCalibration(await exchangeJson(ctx, { method: 'GET', url, idempotent: true }), url);
}

export async function info(ctx: ExchangeContext, jobId: number): Promise<JobInfo> {
  const url = apiEndpoint(ctx.apiUrl, `jobs/${jobId}/info`);
  return decode.decodeInfo(await exchangeJson(ctx, { method: 'GET', url, idempotent: true }), url);
}

export async function tags(ctx: ExchangeContext, jobId: number, which: 'tags' | 'machine_tags' | 'objects_in_field'): Promise<string[]> {
  const url = apiEndpoint(ctx.apiUrl, `jobs/${jobId}/${which}`);
  const json = await exchangeJson(ctx, { method: 'GET', url, idempotent: true });
  return decode.decodeTags(json, url, which === 'objects_in_field' ? 'objects_in_field' : 'tags');
}

export async function annotations(ctx: ExchangeContext, jobId: number, nbright?: number): Promise<Annotation[] | undefined> {
  const query = nbright === undefined ? '' : `?nbright=${nbright}`;
  const url = apiEndpoint(ctx.apiUrl, `jobs/${jobId}/annotations${query}`);
  return decode.decodeAnnotations(await exchangeJson(ctx, { method: 'GET', url, idempotent: true }), url);
}

export async function myJobs(ctx: ExchangeContext, session: string): Promise<number[]> {
  const url = apiEndpoint(ctx.apiUrl, 'myjobs/');
  const json = await exchangeJson(ctx, { method: 'POST', url, body: form({ session }), idempotent: true });
  return decode.decodeIdList(json, url, 'jobs');
}

export async function jobsByTag(ctx: ExchangeContext, query: string, exact: boolean): Promise<number[]> {
  const params = new URLSearchParams({ query });
  if (exact) params.set('exact', '1');
  const url = apiEndpoint(ctx.apiUrl, `jobs_by_tag?${params}`);
  return decode.decodeIdList(await exchangeJson(ctx, { method: 'GET', url, idempotent: true }), url, 'job_ids');
}

export async function submissionImages(ctx: ExchangeContext, session: string, subid: number): Promise<number[]> {
  const url = apiEndpoint(ctx.apiUrl, 'submission_images');
  const json = await exchangeJson(ctx, { method: 'POST', url, body: form({ session, subid }), idempotent: true });
  return decode.decodeIdList(json, url, 'image_ids');
}

/**
 * Downloads a result file. nova's human gate wants any Referer (nova-api.md §6); a missing file
 * comes back as an HTML 500 or, for some kinds, as HTML with status 200, so the content type
 * decides whether this is the file.
 */
export async function resultFile(ctx: ExchangeContext, kind: FileResultKind, jobId: number): Promise<ResultFile> {
  const spec = FILE_RESULTS[kind];
  const url = `${siteRoot(ctx.apiUrl)}${spec.path}/${jobId}`;
  const response = await exchange(ctx, {
    method: 'GET',
    url,
    headers: { referer: apiEndpoint(ctx.apiUrl, 'login') },
    idempotent: true,
  });
  const contentType = (response.headers['content-type'] ?? '').toLowerCase();
  if (response.status !== 200 || !spec.accepts.some((prefix) => contentType.startsWith(prefix))) {
    throw new UnexpectedContentError(`the ${kind} file`, {
      url,
      status: response.status,
      contentType,
      bodyStart: new TextDecoder().decode(response.body.subarray(0, 120)),
    });
  }
  return { kind, filename: spec.filename, contentType, bytes: response.body };
}
