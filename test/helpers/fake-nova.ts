/**
 * An in-memory nova behind the Transport interface: for unit tests that count requests and
 * script answers without a socket. Integration tests use the real server in src/server.
 */
import type { RequestBody, Transport, TransportRequest, TransportResponse } from '../../src/transport/transport.js';

import { ResponseTooLargeError } from '../../src/errors.js';

export interface Recorded {
  method: string;
  path: string;
  /** The query string, with its `?` (empty when none). */
  query: string;
  json?: Record<string, unknown>;
  headers: Record<string, string>;
  /** The body as the transport received it (form or multipart, with the file's description). */
  body?: RequestBody;
}

export type Handler = (req: TransportRequest, recorded: Recorded) => TransportResponse | Promise<TransportResponse>;

const enc = new TextEncoder();

export const text = (body: string, status = 200, contentType = 'text/plain', headers: Record<string, string> = {}): TransportResponse => ({
  status,
  headers: { 'content-type': contentType, ...headers },
  body: enc.encode(body),
});
export const json = (value: unknown): TransportResponse => text(JSON.stringify(value));
export const html = (status: number, body = '<html><body>Page not found</body></html>') => text(body, status, 'text/html; charset=utf-8');

export const SESSION = 'abcdefghij0123456789abcdefghij01';
export const API_KEY = 'testapikeyabcdef';

export interface FakeNovaOptions {
  /** Submission polls that answer "no job yet" before the job id appears. */
  pendingSubmissionPolls?: number;
  /** Job polls answering "solving" before the final status. */
  solvingPolls?: number;
  finalStatus?: 'success' | 'failure';
  jobId?: number;
  subid?: number;
}

export function fakeNova(options: FakeNovaOptions = {}, overrides: Record<string, Handler> = {}) {
  const requests: Recorded[] = [];
  let subPolls = 0;
  let jobPolls = 0;
  const subid = options.subid ?? 101;
  const jobId = options.jobId ?? 202;
  const calibration = { ra: 187.0, dec: 56.7, radius: 5.0, pixscale: 45.0, orientation: 20.0, parity: 1.0, width_arcsec: 28800, height_arcsec: 21600 };
  const handlers: Record<string, Handler> = {
    login: () => json({ status: 'success', message: 'authenticated user: a@b.c', session: SESSION }),
    upload: () => json({ status: 'success', subid, hash: 'a'.repeat(40) }),
    url_upload: () => json({ status: 'success', subid }),
    submission: () => {
      subPolls++;
      const ready = subPolls > (options.pendingSubmissionPolls ?? 0);
      return json({
        processing_started: '2026-11-25 10:00:00.123456',
        processing_finished: ready ? '2026-11-25 10:00:01' : 'None',
        user: 1,
        user_images: ready ? [7] : [],
        images: ready ? [8] : [],
        jobs: ready ? [jobId] : [],
        job_calibrations: [],
      });
    },
    job: () => {
      jobPolls++;
      if (jobPolls <= (options.solvingPolls ?? 0)) return json({ status: 'solving' });
      return json({ status: options.finalStatus ?? 'success' });
    },
    calibration: () => json(calibration),
    info: () => json({ status: 'success', original_filename: 'x.png', objects_in_field: ['M 42'], machine_tags: [], tags: [], calibration }),
    tags: () => json({ tags: ['M 42', 'Orion'] }),
    machine_tags: () => json({ tags: ['Orion'] }),
    objects_in_field: () => json({ objects_in_field: ['M 42', 'NGC 1976'] }),
    annotations: () =>
      json({ annotations: [{ type: 'bright', names: ['Betelgeuse'], pixelx: 10.5, pixely: 20.25, radius: 0.0, vmag: 0.45 }] }),
    wcs_file: () => ({ status: 200, headers: { 'content-type': 'application/fits' }, body: fitsBytes() }),
    new_fits_file: () => ({ status: 200, headers: { 'content-type': 'application/fits' }, body: fitsBytes() }),
    rdls_file: () => ({ status: 200, headers: { 'content-type': 'application/fits' }, body: fitsBytes() }),
    axy_file: () => ({ status: 200, headers: { 'content-type': 'application/fits' }, body: fitsBytes() }),
    corr_file: () => ({ status: 200, headers: { 'content-type': 'application/fits' }, body: fitsBytes() }),
    image_rd_file: () => ({ status: 200, headers: { 'content-type': 'application/fits' }, body: fitsBytes() }),
    annotated_display: () => ({ status: 200, headers: { 'content-type': 'image/jpeg' }, body: new Uint8Array([0xff, 0xd8, 0xff]) }),
    annotated_full: () => ({ status: 200, headers: { 'content-type': 'image/jpeg' }, body: new Uint8Array([0xff, 0xd8, 0xff]) }),
    joblog: () => text('solve-field log\n'),
    ...overrides,
  };
  const transport: Transport & { requests: Recorded[] } = {
    requests,
    async request(req) {
      if (req.signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
      const url = new URL(req.url);
      const path = url.pathname;
      const recorded: Recorded = { method: req.method, path, query: url.search, headers: { ...req.headers } };
      if (req.body) recorded.body = req.body;
      const field = req.body?.fields['request-json'];
      if (field) recorded.json = JSON.parse(field);
      requests.push(recorded);
      const name = endpointName(path);
      const handler = handlers[name];
      const response = handler ? await handler(req, recorded) : html(200, '<html>home</html>');
      // As a real transport does: a body over the cap is refused, not handed on.
      if (req.maxResponseBytes !== undefined && response.body.byteLength > req.maxResponseBytes) {
        throw new ResponseTooLargeError(req.url, req.maxResponseBytes);
      }
      return response;
    },
  };
  return transport;
}

/** `METHOD path` of every recorded request, in order: what request-count assertions compare. */
export function requestLines(requests: readonly Recorded[]): string[] {
  return requests.map((r) => `${r.method} ${r.path}${r.query}`);
}

/** A request handler that never answers until its signal aborts (then it throws an AbortError). */
export function hang(onStart?: (req: TransportRequest) => void): Handler {
  return (req) =>
    new Promise<TransportResponse>((_resolve, reject) => {
      onStart?.(req);
      req.signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true });
    });
}

export function endpointName(path: string): string {
  const p = path.replace(/\/$/, '');
  if (/\/api\/login$/.test(p)) return 'login';
  if (/\/api\/upload$/.test(p)) return 'upload';
  if (/\/api\/url_upload$/.test(p)) return 'url_upload';
  if (/\/api\/submissions\/\d+$/.test(p)) return 'submission';
  if (/\/api\/jobs\/\d+$/.test(p)) return 'job';
  const sub = /\/api\/jobs\/\d+\/(\w+)$/.exec(p);
  if (sub) return sub[1] as string;
  const file = /^\/(\w+)\/\d+$/.exec(p);
  if (file) return file[1] as string;
  return 'unknown';
}

const TAN_CARDS = { CTYPE1: 'RA---TAN', CTYPE2: 'DEC--TAN', CRVAL1: 187, CRVAL2: 56.7, CRPIX1: 320.5, CRPIX2: 240.5, CD1_1: -0.0125, CD1_2: 0, CD2_1: 0, CD2_2: 0.0125, IMAGEW: 640, IMAGEH: 480 };

export function fitsBytes(cards: Record<string, string | number> = TAN_CARDS): Uint8Array {
  const lines = [
    'SIMPLE  =                    T',
    'BITPIX  =                    8',
    'NAXIS   =                    0',
    ...Object.entries(cards).map(([k, v]) =>
      typeof v === 'number' ? `${k.padEnd(8)}= ${String(v).padStart(20)}` : `${k.padEnd(8)}= '${v}'`,
    ),
    'END',
  ].map((l) => l.padEnd(80));
  const text = lines.join('');
  return enc.encode(text.padEnd(Math.ceil(text.length / 2880) * 2880));
}
