/**
 * A transport on the platform's `fetch`, for browsers and other runtimes without undici.
 * Uses only web APIs, so a browser bundle pulls in neither undici nor form-data.
 */
import type { RequestBody, Transport, TransportRequest, TransportResponse } from './types.js';

export interface FetchTransportOptions {
  /** Defaults to `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
}

export function fetchTransport(options: FetchTransportOptions = {}): Transport {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  return {
    async request(req: TransportRequest): Promise<TransportResponse> {
      const init: RequestInit = { method: req.method, headers: { ...req.headers }, redirect: 'manual' };
      if (req.body) init.body = encodeBody(req.body);
      const signals = [req.signal, req.timeoutMs === undefined ? undefined : AbortSignal.timeout(req.timeoutMs)].filter(
        (x): x is AbortSignal => x !== undefined,
      );
      if (signals.length > 0) init.signal = signals.length === 1 ? signals[0] : AbortSignal.any(signals);
      const response = await doFetch(req.url, init);
      const body = new Uint8Array(await response.arrayBuffer());
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        headers[name.toLowerCase()] = value;
      });
      return { status: response.status, headers, body };
    },
  };
}

function encodeBody(body: RequestBody): BodyInit {
  if (body.kind === 'form') return new URLSearchParams(body.fields);
  const form = new FormData();
  for (const [name, value] of Object.entries(body.fields)) form.append(name, value);
  const { field, filename, source } = body.file;
  if (source.kind === 'path') {
    throw new TypeError('fetchTransport cannot read a file path; pass a Blob or bytes instead.');
  }
  const blob = source.kind === 'blob' ? source.blob : new Blob([source.bytes as Uint8Array<ArrayBuffer>]);
  form.append(field, blob, filename);
  return form;
}
