/**
 * Writing responses the way nova's stack does: Django's `HttpResponse` defaults to
 * `text/html; charset=utf-8`, the API sets exactly `text/plain` for JSON (docs/nova-protocol.md#responses).
 */
import type { ServerResponse } from 'node:http';
import { pyDumps, type Dumpable } from './python.js';
import { badRequestPage, csrfFailurePage, notFoundPage, serverErrorPage, tooLargePage } from './html.js';

export const HTML_TYPE = 'text/html; charset=utf-8';
export const JSON_TYPE = 'text/plain';

/** Thrown by handlers to answer with a Django-style HTML error page. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 413 | 500,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound = (what: string): HttpError => new HttpError(404, `No ${what} matches the given query.`);
export const serverError = (why: string): HttpError => new HttpError(500, why);

export function send(
  res: ServerResponse,
  status: number,
  contentType: string | null,
  body: string | Buffer,
  headers: Record<string, string | number | string[]> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const h: Record<string, string | number | string[]> = { ...headers, 'Content-Length': buf.length };
  if (contentType !== null) h['Content-Type'] = contentType;
  res.writeHead(status, h);
  res.end(buf);
}

export function sendJson(res: ServerResponse, value: Dumpable, headers: Record<string, string | string[]> = {}): void {
  send(res, 200, JSON_TYPE, pyDumps(value), headers);
}

export function sendApiError(res: ServerResponse, message: string): void {
  sendJson(res, { status: 'error', errormessage: message });
}

export function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  send(res, status, HTML_TYPE, html, headers);
}

export function sendHttpError(res: ServerResponse, err: HttpError): void {
  const pages = { 400: badRequestPage, 403: csrfFailurePage, 404: notFoundPage, 413: tooLargePage, 500: serverErrorPage };
  sendHtml(res, err.status, pages[err.status]());
}
