/**
 * The nova protocol layer (src/protocol/api.ts over exchange.ts) against the in-memory fake:
 * what goes on the wire, how every odd answer of nova is classified, and what is retried.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  AbortedError,
  ApiError,
  HttpError,
  NetworkError,
  NotFoundError,
  SessionExpiredError,
  UnexpectedContentError,
} from '../src/errors.js';
import type { MemoryStore, UploadDescriptor } from '../src/client/solve-input.js';
import { encodeUploadOptions } from '../src/protocol/upload-options.js';
import * as api from '../src/protocol/api.js';
import * as results from '../src/protocol/results-api.js';
import { uploadBody } from '../src/tasks/upload-body.js';
import type { WireUploadOptions } from '../src/protocol/upload-options.js';

/** An upload as the solve's upload task sends it: the descriptor resolved against the memory store, then sent. */
const upload = async (ctx: ExchangeContext, descriptor: UploadDescriptor, options: WireUploadOptions, memory: MemoryStore) =>
  api.upload(ctx, SESSION, await uploadBody(descriptor, memory), options);
import { parseNovaTime } from '../src/protocol/decode.js';
import { exchangeJson, type ExchangeContext } from '../src/protocol/exchange.js';
import type { RetryPolicy } from '../src/protocol/retry.js';
import type { RequestBody, TransportResponse } from '../src/transport/transport.js';
import { API_KEY, SESSION, fakeNova, fitsBytes, html, json, requestLines, text, type Handler } from './helpers/fake-nova.js';

const API = 'http://nova.test/api/';
const NO_RETRY: RetryPolicy = { retries: 0, baseDelayMs: 0, maxDelayMs: 0 };
const ZERO_DELAY: RetryPolicy = { retries: 3, baseDelayMs: 0, maxDelayMs: 0 };

function setup(overrides: Record<string, Handler> = {}, retry: RetryPolicy = NO_RETRY, extra: Partial<ExchangeContext> = {}) {
  const transport = fakeNova({}, overrides);
  const ctx: ExchangeContext = { transport, apiUrl: API, retry, ...extra };
  return { transport, ctx };
}

async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const multipart = (body: RequestBody | undefined) => {
  if (body?.kind !== 'multipart') throw new Error(`expected a multipart body, got ${body?.kind}`);
  return body;
};
const form = (body: RequestBody | undefined) => {
  if (body?.kind !== 'form') throw new Error(`expected a form body, got ${body?.kind}`);
  return body;
};

/** A handler that answers from a list, one answer per request, then repeats the last. */
function sequence(...answers: (TransportResponse | Error)[]): Handler {
  let i = 0;
  return () => {
    const answer = answers[Math.min(i++, answers.length - 1)]!;
    if (answer instanceof Error) throw answer;
    return answer;
  };
}

const netError = (code: string, message = 'socket hang up') => Object.assign(new Error(message), { code });
const FILE: UploadDescriptor = { kind: 'file', path: '/data/images/m42.fits', filename: 'm42.fits' };
const URL_INPUT: UploadDescriptor = { kind: 'url', url: 'http://example.org/m42.jpg' };
const memory: MemoryStore = new Map();

afterEach(() => {
  vi.useRealTimers();
});

describe('JSON answers', () => {
  test('login: JSON served as text/plain is parsed; the API key goes in request-json of a form POST', async () => {
    const { transport, ctx } = setup();
    const result = await api.login(ctx, API_KEY);
    expect(result).toEqual({ session: SESSION, message: 'authenticated user: a@b.c' });
    expect(requestLines(transport.requests)).toEqual(['POST /api/login']);
    const body = form(transport.requests[0]!.body);
    expect(Object.keys(body.fields)).toEqual(['request-json']);
    expect(JSON.parse(body.fields['request-json']!)).toEqual({ apikey: API_KEY });
  });

  test('a login answer without a session is unexpected content', async () => {
    const { ctx } = setup({ login: () => json({ status: 'success', message: 'x' }) });
    expect(await rejection(api.login(ctx, API_KEY))).toBeInstanceOf(UnexpectedContentError);
  });

  test('status "error" → ApiError carrying the server message; not retried', async () => {
    const message = 'Failed to find an Album with title "Orion"';
    const { transport, ctx } = setup({ url_upload: () => json({ status: 'error', errormessage: message }) }, ZERO_DELAY);
    const error = await rejection(upload(ctx, URL_INPUT, {}, memory));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).not.toBeInstanceOf(SessionExpiredError);
    expect(error.code).toBe('api');
    expect(error.serverMessage).toBe(message);
    expect(error.message).toContain(message);
    expect(transport.requests).toHaveLength(1);
  });

  test('a refused API key is an error of the login, not retried', async () => {
    const { transport, ctx } = setup({ login: () => json({ status: 'error', errormessage: 'bad apikey' }) }, ZERO_DELAY);
    const error = await rejection(api.login(ctx, API_KEY));
    expect(error.message).toContain('bad apikey');
    expect(error.message).not.toContain(API_KEY);
    expect(transport.requests).toHaveLength(1);
  });

  test.each([`no session with key "${SESSION}"`, 'user is not authenticated.'])(
    'the session message %j → SessionExpiredError, without the key in it',
    async (message) => {
      const { transport, ctx } = setup({ url_upload: () => json({ status: 'error', errormessage: message }) }, ZERO_DELAY);
      const error = await rejection(upload(ctx, URL_INPUT, {}, memory));
      expect(error).toBeInstanceOf(SessionExpiredError);
      expect(error.code).toBe('auth');
      expect(error.name).toBe('SessionExpiredError');
      expect(error.message).not.toContain(SESSION);
      expect(JSON.stringify(error)).not.toContain(SESSION);
      expect(transport.requests).toHaveLength(1);
    },
  );

  test('another "no session" message is an ordinary ApiError', async () => {
    const { ctx } = setup({ url_upload: () => json({ status: 'error', errormessage: 'no "session" in JSON.' }) });
    const error = await rejection(upload(ctx, URL_INPUT, {}, memory));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).not.toBeInstanceOf(SessionExpiredError);
  });

  test('HTML with status 200 (a maintenance or home page) where JSON was expected is asked again, then UnexpectedContentError', async () => {
    const { transport, ctx } = setup({ submission: () => html(200, '<!DOCTYPE html><html><title>Astrometry.net</title></html>') }, ZERO_DELAY);
    const error = await rejection(api.submissionStatus(ctx, 101));
    expect(error).toBeInstanceOf(UnexpectedContentError);
    expect(error.code).toBe('unexpected_content');
    expect(error.status).toBe(200);
    expect(error.contentType).toContain('text/html');
    expect(error.bodyStart).toContain('<!DOCTYPE html>');
    expect(error.message).toContain('http://nova.test/api/submissions/101');
    expect(transport.requests).toHaveLength(4);
  });

  test('a maintenance page on a poll is retried, and the poll succeeds', async () => {
    const { transport, ctx } = setup({ job: sequence(html(200, '<html>down for maintenance</html>'), json({ status: 'solving' })) }, ZERO_DELAY);
    expect((await api.jobStatus(ctx, 202)).value).toBe('solving');
    expect(transport.requests).toHaveLength(2);
  });

  test('an HTML page in answer to an upload is never sent again (the server may have the file)', async () => {
    const { transport, ctx } = setup({ upload: () => html(200, '<html>maintenance</html>') }, ZERO_DELAY);
    const error = await rejection(upload(ctx, FILE, {}, memory));
    expect(error).toBeInstanceOf(UnexpectedContentError);
    expect(error.transient).toBe(true);
    expect(requestLines(transport.requests)).toEqual(['POST /api/upload']);
  });

  test('a well-formed answer with impossible values is not retried: a calibration at dec 1e308', async () => {
    const { transport, ctx } = setup(
      { calibration: () => json({ ra: 10, dec: 1e308, radius: 1, pixscale: 2, orientation: 0, parity: 1 }) },
      ZERO_DELAY,
    );
    const error = await rejection(api.calibration(ctx, 202));
    expect(error).toMatchObject({ code: 'unexpected_content', transient: false });
    expect(transport.requests).toHaveLength(1);
  });

  test('a 0-byte WCS file, and a "FITS" file without its header, are unexpected content, not results', async () => {
    const empty = setup({ wcs_file: () => ({ status: 200, headers: { 'content-type': 'application/fits' }, body: new Uint8Array(0) }) }, ZERO_DELAY);
    expect(await rejection(results.resultFile(empty.ctx, 'wcs', 202))).toMatchObject({ code: 'unexpected_content', message: expect.stringContaining('empty') });
    expect(empty.transport.requests).toHaveLength(1);
    const junk = setup({ wcs_file: () => ({ status: 200, headers: { 'content-type': 'application/fits' }, body: new Uint8Array(3000) }) }, ZERO_DELAY);
    expect(await rejection(results.resultFile(junk.ctx, 'wcs', 202))).toMatchObject({ code: 'unexpected_content', message: expect.stringContaining('FITS header') });
  });

  test('a result file above its kind\'s own cap (a WCS is a header: 4 MiB) is refused, below the client\'s maxFileBytes', async () => {
    const huge = new Uint8Array(5 * 1024 * 1024);
    huge.set(fitsBytes());
    const { ctx } = setup({ wcs_file: () => ({ status: 200, headers: { 'content-type': 'application/fits' }, body: huge }) });
    expect(await rejection(results.resultFile(ctx, 'wcs', 202))).toMatchObject({ code: 'response_too_large', limit: 4 * 1024 * 1024 });
  });

  test('FILE_RESULT_KINDS names exactly the kinds FILE_RESULTS describes, in its order', async () => {
    const { FILE_RESULTS } = await import('../src/protocol/result-files.js');
    const { FILE_RESULT_KINDS } = await import('../src/protocol/result-kinds.js');
    expect(Object.keys(FILE_RESULTS)).toEqual(FILE_RESULT_KINDS);
  });

  test('a JSON answer above maxJsonBytes is refused, not buffered', async () => {
    const { ctx } = setup({ job: () => text(`{"status": "solving", "pad": "${'x'.repeat(2000)}"}`) }, ZERO_DELAY, { limits: { maxJsonBytes: 1000 } });
    expect(await rejection(api.jobStatus(ctx, 202))).toMatchObject({ code: 'response_too_large', limit: 1000 });
  });

  test('a typo in a path reaches the home page: UnexpectedContentError, never parsed as JSON', async () => {
    const { ctx } = setup();
    const error = await rejection(exchangeJson(ctx, { method: 'GET', url: `${API}submission/1`, idempotent: true }, (json) => json));
    expect(error).toBeInstanceOf(UnexpectedContentError);
  });

  test.each([
    ['not JSON', text('Internal error')],
    ['a JSON list', text('[1, 2]')],
    ['JSON null', text('null')],
  ])('text/plain holding %s → UnexpectedContentError', async (_name, answer) => {
    const { ctx } = setup({ job: () => answer });
    expect(await rejection(api.jobStatus(ctx, 202))).toBeInstanceOf(UnexpectedContentError);
  });

  test('an unknown job status string is unexpected content', async () => {
    const { ctx } = setup({ job: () => json({ status: 'exploded' }) });
    expect(await rejection(api.jobStatus(ctx, 202))).toBeInstanceOf(UnexpectedContentError);
  });

  test.each(['processing', 'solving', 'success', 'failure', '?'])('job status %j is decoded', async (status) => {
    const { ctx } = setup({ job: () => json({ status }) });
    expect((await api.jobStatus(ctx, 202)).value).toBe(status);
  });

  test('an upload answer without a subid is unexpected content', async () => {
    const { ctx } = setup({ url_upload: () => json({ status: 'success' }) });
    expect(await rejection(upload(ctx, URL_INPUT, {}, memory))).toBeInstanceOf(UnexpectedContentError);
  });
});

describe('HTTP errors and retries', () => {
  test('404 HTML → NotFoundError with the URL, not retried', async () => {
    const { transport, ctx } = setup({ job: () => html(404) }, ZERO_DELAY);
    const error = await rejection(api.jobStatus(ctx, 202));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.code).toBe('not_found');
    expect(error.url).toBe('http://nova.test/api/jobs/202');
    expect(transport.requests).toHaveLength(1);
  });

  test('500 → HttpError after exactly retries + 1 attempts (zero-delay policy)', async () => {
    const onRequest = vi.fn();
    const { transport, ctx } = setup({ submission: () => html(500, 'Server Error (500)') }, ZERO_DELAY, { onRequest });
    const error = await rejection(api.submissionStatus(ctx, 101));
    expect(error).toBeInstanceOf(HttpError);
    expect(error.code).toBe('http');
    expect(error.status).toBe(500);
    expect(requestLines(transport.requests)).toEqual(Array(4).fill('GET /api/submissions/101'));
    expect(onRequest).toHaveBeenCalledTimes(4);
    expect(onRequest).toHaveBeenCalledWith({ method: 'GET', url: 'http://nova.test/api/submissions/101' });
  });

  test('a 500 that recovers on the third attempt succeeds after three requests', async () => {
    const { transport, ctx } = setup({ job: sequence(html(500), html(502), json({ status: 'solving' })) }, ZERO_DELAY);
    expect((await api.jobStatus(ctx, 202)).value).toBe('solving');
    expect(transport.requests).toHaveLength(3);
  });

  test('an upload answered 500 is not sent again', async () => {
    const { transport, ctx } = setup({ upload: () => html(500) }, ZERO_DELAY);
    const error = await rejection(upload(ctx, FILE, {}, memory));
    expect(error).toBeInstanceOf(HttpError);
    expect(requestLines(transport.requests)).toEqual(['POST /api/upload']);
  });

  test('403 on a safe request is retried after at least a minute, and says why nova blocks when it persists', async () => {
    vi.useFakeTimers();
    const { transport, ctx } = setup({ job: sequence(html(403, 'Forbidden'), json({ status: 'solving' })) }, ZERO_DELAY);
    const result = api.jobStatus(ctx, 202);
    await vi.advanceTimersByTimeAsync(59_999);
    expect(transport.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect((await result).value).toBe('solving');
    expect(transport.requests).toHaveLength(2);

    const blocked = setup({ job: () => html(403, 'Forbidden') }, { retries: 1, baseDelayMs: 0, maxDelayMs: 0 });
    const pending = rejection(api.jobStatus(blocked.ctx, 202));
    await vi.advanceTimersByTimeAsync(60_000);
    const error = await pending;
    expect(error).toBeInstanceOf(HttpError);
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/poll/);
    expect(blocked.transport.requests).toHaveLength(2);
  });

  test('403 on an upload is not retried', async () => {
    const { transport, ctx } = setup({ upload: () => html(403, 'Forbidden') }, ZERO_DELAY);
    expect(await rejection(upload(ctx, FILE, {}, memory))).toMatchObject({ code: 'http', status: 403 });
    expect(transport.requests).toHaveLength(1);
  });

  test('no retry is scheduled past the deadline: the last error is thrown instead', async () => {
    const { transport, ctx } = setup({ job: () => html(503) }, { retries: Number.POSITIVE_INFINITY, baseDelayMs: 200, maxDelayMs: 200 }, {
      deadline: Date.now() + 500,
    });
    const error = await rejection(api.jobStatus(ctx, 202));
    expect(error).toMatchObject({ code: 'http', status: 503 });
    // Waits of 100–200 ms (half the delay is jitter) within 500 ms: at most 5 requests, never one past the deadline.
    expect(transport.requests.length).toBeGreaterThanOrEqual(2);
    expect(transport.requests.length).toBeLessThanOrEqual(5);
  });

  test('429 with Retry-After: waits exactly that long, then retries', async () => {
    vi.useFakeTimers();
    const { transport, ctx } = setup(
      { job: sequence(text('slow down', 429, 'text/plain', { 'retry-after': '2' }), json({ status: 'success' })) },
      { retries: 3, baseDelayMs: 0, maxDelayMs: 30_000 },
    );
    const result = api.jobStatus(ctx, 202);
    await vi.advanceTimersByTimeAsync(1999);
    expect(transport.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(transport.requests).toHaveLength(2);
    await expect(result).resolves.toMatchObject({ value: 'success' });
  });

  test('429 on an upload is retried too (the server did not take it)', async () => {
    vi.useFakeTimers();
    const { transport, ctx } = setup(
      { url_upload: sequence(text('', 429, 'text/plain', { 'retry-after': '1' }), json({ status: 'success', subid: 9 })) },
      { retries: 3, baseDelayMs: 0, maxDelayMs: 30_000 },
    );
    const result = upload(ctx, URL_INPUT, {}, memory);
    await vi.advanceTimersByTimeAsync(999);
    expect(transport.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toEqual({ subid: 9 });
    expect(requestLines(transport.requests)).toEqual(['POST /api/url_upload', 'POST /api/url_upload']);
  });

  test('a Retry-After is honoured beyond maxDelayMs, up to ten minutes', async () => {
    vi.useFakeTimers();
    const { transport, ctx } = setup(
      { job: sequence(text('', 429, 'text/plain', { 'retry-after': '3600' }), json({ status: 'solving' })) },
      { retries: 1, baseDelayMs: 0, maxDelayMs: 5000 },
    );
    const result = api.jobStatus(ctx, 202);
    await vi.advanceTimersByTimeAsync(599_999);
    expect(transport.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toMatchObject({ value: 'solving' });
  });

  test('429 until the retries run out → HttpError that remembers Retry-After', async () => {
    const { transport, ctx } = setup({ job: () => text('', 429, 'text/plain', { 'retry-after': '0' }) }, { retries: 2, baseDelayMs: 0, maxDelayMs: 0 });
    const error = await rejection(api.jobStatus(ctx, 202));
    expect(error).toBeInstanceOf(HttpError);
    expect(error.status).toBe(429);
    expect(error.retryAfterSeconds).toBe(0);
    expect(transport.requests).toHaveLength(3);
  });
});

describe('dropped connections', () => {
  test('a transport error → NetworkError, retried for GETs', async () => {
    const { transport, ctx } = setup({ submission: () => { throw netError('ECONNRESET'); } }, ZERO_DELAY);
    const error = await rejection(api.submissionStatus(ctx, 101));
    expect(error).toBeInstanceOf(NetworkError);
    expect(error.code).toBe('network');
    expect(error.message).toContain('socket hang up');
    expect(transport.requests).toHaveLength(4);
  });

  test('a GET that drops once then answers succeeds', async () => {
    const { transport, ctx } = setup({ job: sequence(netError('ECONNRESET'), json({ status: 'solving' })) }, ZERO_DELAY);
    expect((await api.jobStatus(ctx, 202)).value).toBe('solving');
    expect(transport.requests).toHaveLength(2);
  });

  test.each([
    ['file upload', FILE, '/api/upload'],
    ['URL upload', URL_INPUT, '/api/url_upload'],
    ['source-list upload', { kind: 'sourceList', x: [1, 2], y: [3, 4] } as UploadDescriptor, '/api/upload'],
  ])('a dropped %s is NOT retried: exactly one upload request', async (_name, descriptor, path) => {
    const drop: Handler = () => {
      throw netError('ECONNRESET');
    };
    const { transport, ctx } = setup({ upload: drop, url_upload: drop }, ZERO_DELAY);
    const error = await rejection(upload(ctx, descriptor, {}, memory));
    expect(error).toBeInstanceOf(NetworkError);
    expect(requestLines(transport.requests)).toEqual([`POST ${path}`]);
  });

  test('an upload whose connection was refused (never reached the server) IS retried', async () => {
    const { transport, ctx } = setup(
      { upload: sequence(netError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:80'), json({ status: 'success', subid: 7, hash: 'b'.repeat(40) })) },
      ZERO_DELAY,
    );
    expect(await upload(ctx, FILE, {}, memory)).toEqual({ subid: 7, hash: 'b'.repeat(40) });
    expect(requestLines(transport.requests)).toEqual(['POST /api/upload', 'POST /api/upload']);
  });

  test('ECONNREFUSED nested as a cause (fetch-style "fetch failed") is recognised', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: netError('ECONNREFUSED') });
    const { transport, ctx } = setup({ url_upload: sequence(refused, json({ status: 'success', subid: 8 })) }, ZERO_DELAY);
    expect(await upload(ctx, URL_INPUT, {}, memory)).toEqual({ subid: 8 });
    expect(transport.requests).toHaveLength(2);
  });

  test('an abort is AbortedError and is not retried', async () => {
    const abort = Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
    const { transport, ctx } = setup({ job: () => { throw abort; } }, ZERO_DELAY);
    const error = await rejection(api.jobStatus(ctx, 202));
    expect(error).toBeInstanceOf(AbortedError);
    expect(error.code).toBe('aborted');
    expect(transport.requests).toHaveLength(1);
  });

  test('the signal reaches the transport: an aborted one fails the request with AbortedError', async () => {
    const controller = new AbortController();
    controller.abort();
    const { ctx } = setup({}, ZERO_DELAY, { signal: controller.signal });
    expect(await rejection(api.jobStatus(ctx, 202))).toBeInstanceOf(AbortedError);
  });
});

describe('decoding nova quirks', () => {
  test('"None" timestamps → null; set ones → ISO UTC', async () => {
    const { ctx } = setup({
      submission: () =>
        json({
          processing_started: '2023-08-16 06:26:46.267010',
          processing_finished: 'None',
          user: 3,
          user_images: [],
          images: [],
          jobs: [],
          job_calibrations: [],
        }),
    });
    const status = (await api.submissionStatus(ctx, 101)).value;
    expect(status.processing_started).toBe('2023-08-16T06:26:46.267Z');
    expect(status.processing_finished).toBeNull();
    expect(status.error_message).toBeUndefined();
    expect('error_message' in status).toBe(false);
  });

  test.each([
    ['2023-08-16 06:26:46.267010', '2023-08-16T06:26:46.267Z'],
    ['2023-08-16 06:26:46.267010+00:00', '2023-08-16T06:26:46.267Z'],
    ['2023-08-16 06:26:46', '2023-08-16T06:26:46.000Z'],
    ['2023-08-16 06:26:46+00:00', '2023-08-16T06:26:46.000Z'],
    ['2023-08-16 08:26:46+02:00', '2023-08-16T06:26:46.000Z'],
    ['None', null],
    ['', null],
    [null, null],
    ['yesterday', null],
  ])('parseNovaTime(%j) → %j', (input, expected) => {
    expect(parseNovaTime(input)).toBe(expected);
  });

  test('both timestamp formats (naive and +00:00) decode to the same instant', () => {
    expect(parseNovaTime('2026-11-25 10:00:01.5')).toBe(parseNovaTime('2026-11-25 10:00:01.500000+00:00'));
  });

  test('jobs [null] stays [null]; ids and calibration pairs are kept; error_message is kept', async () => {
    const answers = [
      { jobs: [null], user_images: [5], job_calibrations: [] },
      { jobs: [null, 12], user_images: [5, 6], job_calibrations: [[12, 99]] },
      { jobs: [], user_images: [], job_calibrations: [], error_message: '...ValueError: bad' },
    ];
    let i = 0;
    const { ctx } = setup({
      submission: () => json({ processing_started: 'None', processing_finished: 'None', user: 1, images: [], ...answers[i++] }),
    });
    expect((await api.submissionStatus(ctx, 1)).value).toMatchObject({ jobs: [null], user_images: [5], job_calibrations: [] });
    expect((await api.submissionStatus(ctx, 1)).value).toMatchObject({ jobs: [null, 12], job_calibrations: [[12, 99]] });
    expect(((await api.submissionStatus(ctx, 1)).value).error_message).toBe('...ValueError: bad');
  });

  test('a submission answer without its lists is unexpected content', async () => {
    const { ctx } = setup({ submission: () => json({ status: 'success' }) });
    expect(await rejection(api.submissionStatus(ctx, 1))).toBeInstanceOf(UnexpectedContentError);
  });

  test('calibration {error} → undefined', async () => {
    const { ctx } = setup({ calibration: () => json({ error: 'no calibration data available for job 202' }) });
    expect(await api.calibration(ctx, 202)).toBeUndefined();
  });

  test('calibration: values kept, parity -1.0 → -1, width/height when present', async () => {
    const { ctx } = setup({
      calibration: () => json({ ra: 10.5, dec: -20.25, radius: 0.5, pixscale: 1.5, orientation: -179.5, parity: -1.0, width_arcsec: 3600, height_arcsec: 2400 }),
    });
    expect(await api.calibration(ctx, 202)).toEqual({
      ra: 10.5,
      dec: -20.25,
      radius: 0.5,
      pixscale: 1.5,
      orientation: -179.5,
      parity: -1,
      width_arcsec: 3600,
      height_arcsec: 2400,
    });
  });

  test('a calibration missing a coordinate is unexpected content, not a half-filled object', async () => {
    const { ctx } = setup({ calibration: () => json({ dec: 1, radius: 1, pixscale: 1, orientation: 0, parity: 1 }) });
    expect(await rejection(api.calibration(ctx, 202))).toBeInstanceOf(UnexpectedContentError);
  });

  test('info with a calibration', async () => {
    const { ctx } = setup({
      info: () =>
        json({
          objects_in_field: ['M 42'],
          machine_tags: ['Orion'],
          tags: ['Orion', 'mine'],
          status: 'success',
          original_filename: 'm42.jpg',
          calibration: { ra: 83.8, dec: -5.4, radius: 1.2, pixscale: 2.5, orientation: 12, parity: 1.0 },
        }),
    });
    expect(await results.info(ctx, 202)).toEqual({
      status: 'success',
      original_filename: 'm42.jpg',
      objects_in_field: ['M 42'],
      machine_tags: ['Orion'],
      tags: ['Orion', 'mine'],
      calibration: { ra: 83.8, dec: -5.4, radius: 1.2, pixscale: 2.5, orientation: 12, parity: 1 },
    });
  });

  test('info without a calibration (a failed job)', async () => {
    const { ctx } = setup({
      info: () => json({ objects_in_field: [], machine_tags: [], tags: [], status: 'failure', original_filename: 'json-xy' }),
    });
    const info = await results.info(ctx, 202);
    expect(info.status).toBe('failure');
    expect(info.calibration).toBeUndefined();
    expect('calibration' in info).toBe(false);
  });

  test('tags, machine_tags and objects_in_field read their own lists', async () => {
    const { transport, ctx } = setup();
    expect(await results.tags(ctx, 202, 'tags')).toEqual(['M 42', 'Orion']);
    expect(await results.tags(ctx, 202, 'machine_tags')).toEqual(['Orion']);
    expect(await results.tags(ctx, 202, 'objects_in_field')).toEqual(['M 42', 'NGC 1976']);
    expect(requestLines(transport.requests)).toEqual([
      'GET /api/jobs/202/tags',
      'GET /api/jobs/202/machine_tags',
      'GET /api/jobs/202/objects_in_field',
    ]);
  });
});

describe('annotations', () => {
  test('nbright goes in the query; none without it', async () => {
    const { transport, ctx } = setup();
    const a = await results.annotations(ctx, 202, 5);
    expect(a).toEqual([{ type: 'bright', names: ['Betelgeuse'], pixelx: 10.5, pixely: 20.25, radius: 0, vmag: 0.45 }]);
    await results.annotations(ctx, 202);
    expect(requestLines(transport.requests)).toEqual(['GET /api/jobs/202/annotations?nbright=5', 'GET /api/jobs/202/annotations']);
  });

  test('{error} → undefined', async () => {
    const { ctx } = setup({ annotations: () => json({ error: 'no calibration data available for job 202' }) });
    expect(await results.annotations(ctx, 202)).toBeUndefined();
  });
});

describe('result downloads', () => {
  test('a file download sends a Referer and returns the bytes', async () => {
    const { transport, ctx } = setup();
    const file = await results.resultFile(ctx, 'wcs', 202);
    expect(requestLines(transport.requests)).toEqual(['GET /wcs_file/202']);
    expect(transport.requests[0]!.headers.referer).toBe('http://nova.test/api/login');
    expect(file).toEqual({ kind: 'wcs', filename: 'wcs.fits', contentType: 'application/fits', bytes: fitsBytes() });
  });

  test.each([
    ['newFits', '/new_fits_file/202'],
    ['corr', '/corr_file/202'],
    ['annotatedDisplay', '/annotated_display/202'],
    ['joblog', '/joblog/202'],
  ] as const)('%s is fetched from %s with a Referer', async (kind, path) => {
    const { transport, ctx } = setup();
    const file = await results.resultFile(ctx, kind, 202);
    expect(file.kind).toBe(kind);
    expect(transport.requests.map((r) => r.path)).toEqual([path]);
    expect(transport.requests[0]!.headers.referer).toEqual(expect.any(String));
  });

  test('an HTML body with status 200 for new_fits_file → UnexpectedContentError, not a file', async () => {
    const { ctx } = setup({ new_fits_file: () => html(200, 'image2pnm.py failed: out , err ') });
    const error = await rejection(results.resultFile(ctx, 'newFits', 202));
    expect(error).toBeInstanceOf(UnexpectedContentError);
    expect(error.status).toBe(200);
    expect(error.bodyStart).toContain('image2pnm.py failed');
  });

  test('a 302 to /ask_human → error, not a file', async () => {
    const { transport, ctx } = setup(
      { corr_file: () => text('', 302, 'text/html; charset=utf-8', { location: '/ask_human?next=/corr_file/202' }) },
      ZERO_DELAY,
    );
    const error = await rejection(results.resultFile(ctx, 'corr', 202));
    expect(error).toBeInstanceOf(UnexpectedContentError);
    expect(error.status).toBe(302);
    // A gate page may go away (a session turned human): asked again, but only twice for a file.
    expect(transport.requests).toHaveLength(3);
  });

  test('a page in place of a file is asked again twice, not until the deadline: nova serves pages for files it will never have', async () => {
    const { transport, ctx } = setup({ new_fits_file: () => html(200, 'image2pnm.py failed') }, { retries: Number.POSITIVE_INFINITY, baseDelayMs: 0, maxDelayMs: 0 });
    expect(await rejection(results.resultFile(ctx, 'newFits', 202))).toMatchObject({ code: 'unexpected_content' });
    expect(transport.requests).toHaveLength(3);
  });

  test('a missing wcs file (HTML 500) → HttpError after the retries', async () => {
    const { transport, ctx } = setup({ wcs_file: () => html(500) }, ZERO_DELAY);
    const error = await rejection(results.resultFile(ctx, 'wcs', 202));
    expect(error).toBeInstanceOf(HttpError);
    expect(transport.requests).toHaveLength(4);
  });

  test('a FITS kind served as an image is refused; an image kind served as FITS too', async () => {
    const { ctx } = setup({
      rdls_file: () => ({ status: 200, headers: { 'content-type': 'image/png' }, body: new Uint8Array([1]) }),
      annotated_full: () => ({ status: 200, headers: { 'content-type': 'application/fits' }, body: fitsBytes() }),
    });
    expect(await rejection(results.resultFile(ctx, 'rdls', 202))).toBeInstanceOf(UnexpectedContentError);
    expect(await rejection(results.resultFile(ctx, 'annotatedFull', 202))).toBeInstanceOf(UnexpectedContentError);
  });
});

describe('upload wire format', () => {
  test('a file: multipart with parts request-json and file, the filename, private by default', async () => {
    const { transport, ctx } = setup();
    const result = await upload(ctx, FILE, encodeUploadOptions({}), memory);
    expect(result).toEqual({ subid: 101, hash: 'a'.repeat(40) });
    expect(requestLines(transport.requests)).toEqual(['POST /api/upload']);
    const body = multipart(transport.requests[0]!.body);
    expect(Object.keys(body.fields)).toEqual(['request-json']);
    expect(body.file.field).toBe('file');
    expect(body.file.filename).toBe('m42.fits');
    expect(body.file.source).toEqual({ kind: 'path', path: '/data/images/m42.fits' });
    expect(JSON.parse(body.fields['request-json']!)).toEqual({
      publicly_visible: 'n',
      allow_commercial_use: 'd',
      allow_modifications: 'd',
      session: SESSION,
    });
  });

  test('booleans are JSON booleans (bool("false") is True on nova), numbers are numbers', async () => {
    const { transport, ctx } = setup();
    const options = encodeUploadOptions({ useSextractor: true, invert: false, crpixCenter: false, tweakOrder: 0, downsampleFactor: 4, publiclyVisible: true });
    await upload(ctx, FILE, options, memory);
    const sent = JSON.parse(multipart(transport.requests[0]!.body).fields['request-json']!);
    expect(sent.use_sextractor).toBe(true);
    expect(sent.invert).toBe(false);
    expect(sent.crpix_center).toBe(false);
    expect(sent.tweak_order).toBe(0);
    expect(sent.downsample_factor).toBe(4);
    expect(sent.publicly_visible).toBe('y');
  });

  test('bytes in memory are sent as the file part, with the given filename', async () => {
    const { transport, ctx } = setup();
    const bytes = new Uint8Array([1, 2, 3, 4]);
    const store: MemoryStore = new Map([['memory-x', bytes]]);
    await upload(ctx, { kind: 'memory', ref: 'memory-x', filename: 'frame.png', size: 4 }, {}, store);
    const body = multipart(transport.requests[0]!.body);
    expect(body.file.filename).toBe('frame.png');
    expect(body.file.source).toEqual({ kind: 'bytes', bytes });
  });

  test('in-memory bytes that are gone fail before any request', async () => {
    const { transport, ctx } = setup();
    const error = await rejection(upload(ctx, { kind: 'memory', ref: 'nope', filename: 'a.png', size: 1 }, {}, new Map()));
    expect(error).toMatchObject({ code: 'validation', option: 'bytes' });
    expect(transport.requests).toHaveLength(0);
  });

  test('url_upload: a form with request-json holding the url, the session and the options; no file part', async () => {
    const { transport, ctx } = setup();
    const result = await upload(ctx, URL_INPUT, encodeUploadOptions({ scaleUnits: 'arcsecperpix', scaleLower: 1, scaleUpper: 3 }), memory);
    expect(result).toEqual({ subid: 101 });
    expect(requestLines(transport.requests)).toEqual(['POST /api/url_upload']);
    const body = form(transport.requests[0]!.body);
    expect(Object.keys(body.fields)).toEqual(['request-json']);
    expect(JSON.parse(body.fields['request-json']!)).toEqual({
      publicly_visible: 'n',
      allow_commercial_use: 'd',
      allow_modifications: 'd',
      scale_units: 'arcsecperpix',
      scale_type: 'ul',
      scale_lower: 1,
      scale_upper: 3,
      session: SESSION,
      url: 'http://example.org/m42.jpg',
    });
  });

  test('a source list: x and y lists inside request-json, posted to /api/upload without a file part', async () => {
    const { transport, ctx } = setup();
    const list: UploadDescriptor = { kind: 'sourceList', x: [10.5, 20, 30.25], y: [5, 6.5, 7] };
    await upload(ctx, list, encodeUploadOptions({ imageWidth: 640, imageHeight: 480 }), memory);
    expect(requestLines(transport.requests)).toEqual(['POST /api/upload']);
    const body = form(transport.requests[0]!.body);
    expect('file' in body).toBe(false);
    expect(JSON.parse(body.fields['request-json']!)).toMatchObject({
      session: SESSION,
      x: [10.5, 20, 30.25],
      y: [5, 6.5, 7],
      image_width: 640,
      image_height: 480,
      publicly_visible: 'n',
    });
  });

  test('an option cannot overwrite the session', async () => {
    const { transport, ctx } = setup();
    await upload(ctx, URL_INPUT, { session: 'evil' } as never, memory);
    expect(transport.requests[0]!.json?.session).toBe(SESSION);
  });
});
