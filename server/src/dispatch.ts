/**
 * One request's path through the server: record it, apply CORS and injected faults, enforce
 * the body limit and CSRF, run the route, and turn every failure into an HTML error page.
 * Nothing a client sends may crash the process or leave a promise unhandled.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Exchange, ServerContext } from './context.js';
import type { Fault, Faults } from './faults.js';
import { BadRequestError, BodyTooLargeError } from './forms.js';
import { badRequestPage, homePage, nginxPage, serverErrorPage, statusReason, tooLargePage } from './html.js';
import { drainBounded } from './body.js';
import { PyError } from './python.js';
import { HttpError, sendApiError, sendHtml, send, sendHttpError } from './respond.js';
import { route } from './router.js';

export interface RecordedRequest {
  method: string;
  /** URL path only: query strings are never recorded. */
  path: string;
  endpoint: string;
  /** ms since epoch. */
  at: number;
}

export interface DispatchOptions {
  maxUploadBytes: number;
  corsOrigins: readonly string[];
  maxRecorded: number;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function createDispatcher(ctx: ServerContext, faults: Faults, requests: RecordedRequest[], opts: DispatchOptions) {
  return async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const method = req.method ?? 'GET';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      url = new URL('http://localhost/');
    }
    let path: string;
    try {
      path = decodeURIComponent(url.pathname).replace(/^\/+/, '');
    } catch {
      path = url.pathname.replace(/^\/+/, '');
    }
    const { route: r, match } = route(path);
    const endpoint = r.endpoint(match);
    requests.push({ method, path: url.pathname, endpoint, at: started });
    if (requests.length > opts.maxRecorded) requests.splice(0, requests.length - opts.maxRecorded);
    res.on('finish', () => ctx.log(`${method} ${url.pathname} ${res.statusCode} ${Date.now() - started}ms`));

    try {
      if (applyCors(req, res, opts.corsOrigins)) return;
      const fault = faults.take(endpoint, url.pathname);
      if (fault) {
        const handled = await applyFault(fault, req, res, opts.maxUploadBytes);
        if (handled) return;
      }
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > opts.maxUploadBytes) throw new BodyTooLargeError();
      if (!r.csrfExempt && UNSAFE.has(method)) throw new HttpError(403, 'CSRF verification failed');
      const ex: Exchange = { req, res, url, path };
      await r.handler(ctx, ex, match);
      // A client that left while its answer was held gets none.
      if (!res.headersSent && !res.destroyed) throw new Error(`handler for ${endpoint} sent no response`);
    } catch (err) {
      await answerError(ctx, req, res, err, endpoint);
    }
  };
}

async function answerError(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, err: unknown, endpoint: string): Promise<void> {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof BodyTooLargeError || err instanceof BadRequestError) {
    // Answering mid-upload: read what the client still sends (bounded) so it sees the answer
    // on a connection that stays in sync; a client that keeps going gets the answer and a close.
    const clean = await drainBounded(req, DRAIN_CAP_BYTES, DRAIN_TIMEOUT_MS);
    const headers: Record<string, string> = clean ? {} : { Connection: 'close' };
    if (err instanceof BodyTooLargeError) sendHtml(res, 413, tooLargePage(), headers);
    else sendHtml(res, 400, badRequestPage(), headers);
    return;
  }
  if (err instanceof HttpError) {
    if (err.status === 500) ctx.log(`500 on ${endpoint}: ${err.message}`);
    sendHttpError(res, err);
    return;
  }
  if (err instanceof PyError) {
    ctx.log(`500 on ${endpoint}: ${err.message}`);
    sendHtml(res, 500, serverErrorPage());
    return;
  }
  if ((err as { code?: unknown })?.code === 'STORE_UNAVAILABLE') {
    // The database stayed away past the store's retries: nova's JSON error, which a client
    // reads and may retry, never an HTML 500 (a client takes that for a broken server).
    ctx.log(`database unavailable on ${endpoint}: ${(err as Error).message}`);
    // A read is safe to repeat: 503 with Retry-After, which clients retry. An upload or another
    // POST gets nova's own JSON error, whose meaning a nova client knows.
    if (req.method === 'GET') send(res, 503, 'text/plain', 'The server cannot reach its database; try again later.\n', { 'Retry-After': '5' });
    else sendApiError(res, 'the server cannot reach its database; try again later');
    return;
  }
  ctx.log(`500 on ${endpoint}: unexpected ${(err as Error)?.name ?? 'error'}: ${(err as Error)?.message ?? String(err)}`);
  sendHtml(res, 500, serverErrorPage());
}

const DRAIN_CAP_BYTES = 16 * 1024 * 1024;
const DRAIN_TIMEOUT_MS = 10_000;

/** CORS only for configured origins; answers preflights. Returns true when answered. */
function applyCors(req: IncomingMessage, res: ServerResponse, origins: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origins.length === 0 || origin === undefined || !origins.includes(origin)) return false;
  res.setHeader('Access-Control-Allow-Origin', origin);
  res.setHeader('Vary', 'Origin');
  // A page reads the long-poll headers only if they are exposed: without them it polls on its schedule.
  res.setHeader('Access-Control-Expose-Headers', 'x-long-poll, x-state');
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
    send(res, 204, null, '', {
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
      'Access-Control-Allow-Headers': 'Content-Type',
      'Access-Control-Max-Age': '600',
    });
    return true;
  }
  return false;
}

/** Returns true when the fault answered (or killed) the request; 'slow' lets it continue. */
async function applyFault(fault: Fault, req: IncomingMessage, res: ServerResponse, maxBody: number): Promise<boolean> {
  if (fault.kind === 'drop') {
    req.socket.destroy();
    return true;
  }
  if (fault.kind === 'slow') {
    await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
    return false;
  }
  // Read the request first, so the client is not cut off mid-upload before it sees the answer.
  const clean = await drainBounded(req, maxBody, DRAIN_TIMEOUT_MS);
  if (!clean) res.setHeader('Connection', 'close');
  switch (fault.kind) {
    case 'status': {
      const status = fault.status ?? 500;
      sendHtml(res, status, status === 500 ? serverErrorPage() : nginxPage(status, statusReason(status)));
      break;
    }
    case 'html':
      sendHtml(res, 200, homePage());
      break;
    case 'text':
      send(res, 200, 'text/plain', 'Temporarily unavailable: the server is restarting, try again later.\n');
      break;
    case 'rate-limit':
      sendHtml(res, 429, nginxPage(429, 'Too Many Requests'), { 'Retry-After': String(fault.retryAfterSeconds ?? 1) });
      break;
    case 'forbidden':
      sendHtml(res, 403, nginxPage(403, 'Forbidden'));
      break;
  }
  return true;
}

