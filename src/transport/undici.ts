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
import { ResponseTooLargeError } from '../errors.js';
import type { RequestBody, Transport, TransportRequest, TransportResponse } from './types.js';
import { watch } from './watchdog.js';

export interface UndiciTransportOptions {
  /** An undici Agent or Pool, e.g. to bound connections or set timeouts. */
  dispatcher?: Dispatcher;
  /** undici's own body timeout. Default 120 000, or none for a request with its own stall timeout. */
  bodyTimeoutMs?: number;
  /** undici's own headers timeout. Default 600 000, or none for a request with its own stall timeout. */
  headersTimeoutMs?: number;
  /** Sent on every request. */
  userAgent?: string;
}

// Loaded at the first request, not at import: a command line that only checks its arguments
// starts without paying for undici and form-data.
const READ_CHUNK = 1 << 20;
const SMALL_BODY = 256 * 1024;

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
      const dog = watch(req);
      const encoded = await encodeBody(FormData, req.body, (sent, total) => {
        dog.touch();
        req.onUploadProgress?.(sent, total);
      });
      try {
        const response = await undiciRequest(req.url, {
          method: req.method,
          headers: { 'user-agent': userAgent, ...encoded.headers, ...req.headers },
          body: encoded.body,
          signal: dog.signal,
          dispatcher: options.dispatcher,
          // A request with a stall timeout is bounded by the watchdog in every phase (a long poll
          // is held on purpose); undici's own timers are the backstop for one without.
          bodyTimeout: options.bodyTimeoutMs ?? (req.stallTimeoutMs === undefined ? 120_000 : 0),
          headersTimeout: options.headersTimeoutMs ?? (req.stallTimeoutMs === undefined ? 600_000 : 0),
        });
        dog.touch();
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
        }
        const body = await readCapped(response.body, headers['content-length'], req, dog.touch);
        return { status: response.statusCode, headers, body };
      } catch (error) {
        // undici rejects with the signal's reason: the watchdog's NetworkError, or the caller's abort.
        throw dog.signal.aborted && dog.signal.reason !== undefined ? dog.signal.reason : error;
      } finally {
        dog.done();
        // An aborted or failed upload leaves its file stream open unless it is closed here.
        encoded.file?.destroy();
      }
    },
  };
}

/** Reads a body to its end, refusing more than `req.maxResponseBytes`, touching the watchdog per chunk. */
async function readCapped(
  body: AsyncIterable<Buffer> & { destroy(error?: Error): unknown },
  contentLength: string | undefined,
  req: TransportRequest,
  touch: () => void,
): Promise<Uint8Array> {
  const limit = req.maxResponseBytes ?? Number.POSITIVE_INFINITY;
  const declared = contentLength === undefined ? undefined : Number(contentLength);
  if (declared !== undefined && declared > limit) {
    body.destroy();
    throw new ResponseTooLargeError(req.url, limit);
  }
  // A small answer of known length (every JSON answer) is read in one go: async iteration costs
  // more CPU than the bytes themselves, and a stall there is caught by the request's timers.
  if (declared !== undefined && declared <= SMALL_BODY && 'arrayBuffer' in body) {
    return new Uint8Array(await (body as unknown as { arrayBuffer(): Promise<ArrayBuffer> }).arrayBuffer());
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    touch();
    total += chunk.length;
    if (total > limit) {
      body.destroy();
      throw new ResponseTooLargeError(req.url, limit);
    }
    chunks.push(chunk);
  }
  if (chunks.length === 1) {
    const only = chunks[0] as Buffer;
    return new Uint8Array(only.buffer, only.byteOffset, only.byteLength);
  }
  return new Uint8Array(Buffer.concat(chunks, total));
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
  onProgress: (sentBytes: number, totalBytes: number) => void,
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
    // Large reads for a big file (1 MiB a syscall instead of 64 KiB cuts its system CPU); a
    // small one is read in one go without a 1 MiB buffer to collect.
    file = createReadStream(source.path, { highWaterMark: Math.max(1, Math.min(READ_CHUNK, size + 1)) });
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
  form.on('data', (chunk: Buffer | string) => {
    sent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    onProgress(Math.min(sent, length), length);
  });
  return {
    headers: { ...form.getHeaders(), 'content-length': String(length) },
    body: form as unknown as Readable,
    ...(file ? { file } : {}),
  };
}
