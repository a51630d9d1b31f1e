/**
 * The Node transport: undici's `request()`, and `form-data` for uploads.
 *
 * nova runs Django behind WSGI, which reads a chunked body as empty, so every upload is sent
 * with an exact Content-Length: `form-data` computes it from the file's size on disk while the
 * file itself is streamed, never read whole into memory.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type FormDataType from 'form-data';
import type { Dispatcher } from 'undici';
import type { RequestBody, Transport, TransportRequest, TransportResponse } from './types.js';

export interface UndiciTransportOptions {
  /** An undici Agent or Pool, e.g. to bound connections or set timeouts. */
  dispatcher?: Dispatcher;
  /** Milliseconds without any byte from the server before the request fails. Default 120 000. */
  bodyTimeoutMs?: number;
  /** Milliseconds to wait for response headers (an upload's body counts). Default 600 000. */
  headersTimeoutMs?: number;
  /** Sent on every request. */
  userAgent?: string;
}

// Loaded at the first request, not at import: a command line that only checks its arguments
// starts without paying for undici and form-data.
let modules: Promise<{ request: typeof import('undici').request; FormData: typeof FormDataType }> | undefined;
function load() {
  modules ??= Promise.all([import('undici'), import('form-data')]).then(([undici, formData]) => ({
    request: undici.request,
    FormData: formData.default,
  }));
  return modules;
}

export function undiciTransport(options: UndiciTransportOptions = {}): Transport {
  const userAgent = options.userAgent ?? 'astrometry-net-client';
  return {
    async request(req: TransportRequest): Promise<TransportResponse> {
      const { request: undiciRequest, FormData } = await load();
      const encoded = await encodeBody(FormData, req.body, req.onUploadProgress);
      // A bounded request is bounded as a whole, body included: a server trickling bytes must
      // not hold a poll forever.
      const signals = [req.signal, req.timeoutMs === undefined ? undefined : AbortSignal.timeout(req.timeoutMs)].filter(
        (x): x is AbortSignal => x !== undefined,
      );
      try {
        const response = await undiciRequest(req.url, {
          method: req.method,
          headers: { 'user-agent': userAgent, ...encoded.headers, ...req.headers },
          body: encoded.body,
          signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0],
          dispatcher: options.dispatcher,
          bodyTimeout: options.bodyTimeoutMs ?? 120_000,
          headersTimeout: options.headersTimeoutMs ?? 600_000,
        });
        const body = new Uint8Array(await response.body.arrayBuffer());
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
        }
        return { status: response.statusCode, headers, body };
      } finally {
        // An aborted or failed upload leaves its file stream open unless it is closed here.
        encoded.file?.destroy();
      }
    },
  };
}

interface EncodedBody {
  headers: Record<string, string>;
  body?: string | Buffer | Readable;
  /** The stream reading the uploaded file, to close once the request is over. */
  file?: Readable;
}

async function encodeBody(
  FormData: typeof FormDataType,
  body: RequestBody | undefined,
  onProgress: TransportRequest['onUploadProgress'],
): Promise<EncodedBody> {
  if (!body) return { headers: {} };
  if (body.kind === 'form') {
    const text = new URLSearchParams(body.fields).toString();
    return {
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(text)) },
      body: text,
    };
  }
  const form = new FormData();
  for (const [name, value] of Object.entries(body.fields)) form.append(name, value);
  const { field, filename, source } = body.file;
  const type = 'application/octet-stream';
  let file: Readable | undefined;
  if (source.kind === 'path') {
    const { size } = await stat(source.path);
    file = createReadStream(source.path);
    form.append(field, file, { filename, knownLength: size, contentType: type });
  } else if (source.kind === 'bytes') {
    form.append(field, Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength), { filename, contentType: type });
  } else {
    file = Readable.fromWeb(source.blob.stream() as import('node:stream/web').ReadableStream);
    form.append(field, file, { filename, knownLength: source.blob.size, contentType: type });
  }
  const length = await new Promise<number>((resolve, reject) =>
    form.getLength((error, value) => (error ? reject(error) : resolve(value))),
  );
  let sent = 0;
  if (onProgress) {
    form.on('data', (chunk: Buffer | string) => {
      sent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      onProgress(Math.min(sent, length), length);
    });
  }
  return {
    headers: { ...form.getHeaders(), 'content-length': String(length) },
    body: form as unknown as Readable,
    ...(file ? { file } : {}),
  };
}
