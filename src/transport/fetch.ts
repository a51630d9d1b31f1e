/**
 * A transport on the platform's `fetch`, for browsers and other runtimes without undici.
 * Uses only web APIs, so a browser bundle pulls in neither undici nor form-data.
 */
import { ResponseTooLargeError } from '../errors.js';
import type { RequestBody, Transport, TransportRequest, TransportResponse } from './transport.js';
import { watch } from './watchdog.js';
import { concatBytes } from './bytes.js';

export interface FetchTransportOptions {
  /** Defaults to `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
}

export function fetchTransport(options: FetchTransportOptions = {}): Transport {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  return {
    async request(req: TransportRequest): Promise<TransportResponse> {
      // fetch cannot report upload progress, so while a body is sent the stall timer sees
      // nothing move: an upload is bounded by its overall timeout instead.
      const dog = watch(req.body?.kind === 'multipart' ? { ...req, stallTimeoutMs: undefined } : req);
      try {
        const init: RequestInit = { method: req.method, headers: { ...req.headers }, redirect: 'manual', signal: dog.signal };
        if (req.body) init.body = encodeBody(req.body);
        const response = await doFetch(req.url, init);
        dog.touch();
        const headers: Record<string, string> = {};
        response.headers.forEach((value, name) => {
          headers[name.toLowerCase()] = value;
        });
        const body = await readCapped(response, req, dog.touch);
        return { status: response.status, headers, body };
      } catch (error) {
        throw dog.signal.aborted && dog.signal.reason !== undefined ? dog.signal.reason : error;
      } finally {
        dog.done();
      }
    },
  };
}

async function readCapped(response: Response, req: TransportRequest, touch: () => void): Promise<Uint8Array> {
  const limit = req.maxResponseBytes ?? Number.POSITIVE_INFINITY;
  const declared = response.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) {
    await response.body?.cancel();
    throw new ResponseTooLargeError(req.url, limit);
  }
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    touch();
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw new ResponseTooLargeError(req.url, limit);
    }
    chunks.push(value);
  }
  // A single chunk (most answers) is the body already: no copy.
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : concatBytes(chunks);
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
