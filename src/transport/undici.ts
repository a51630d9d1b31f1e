/**
 * The Node transport: undici's `request()`, and `form-data` for uploads.
 *
 * nova runs Django behind WSGI, which reads a chunked body as empty, so every upload is sent
 * with an exact Content-Length: `form-data` computes it from the file's size on disk while the
 * file itself is streamed, never read whole into memory.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type FormDataType from 'form-data';
import type { Dispatcher } from 'undici';
import { NetworkError, ResponseTooLargeError } from '../errors.js';
import type { RequestBody, Transport, TransportRequest, TransportResponse } from './transport.js';
import { watch, type Watchdog } from './watchdog.js';

export interface UndiciTransportOptions {
  /**
   * An undici Agent, Pool or ProxyAgent, e.g. for a proxy or to bound connections. Without it the
   * transport uses its own Agent (shared by every transport in the process), not undici's global
   * dispatcher: a big upload then reuses its read buffers, which is only safe on sockets whose
   * settings it knows. Through a dispatcher given here, each chunk of a file gets a new buffer.
   */
  dispatcher?: Dispatcher;
  /** undici's own body timeout. Default 120 000, or none for a request with its own stall timeout. */
  bodyTimeoutMs?: number;
  /** undici's own headers timeout. Default 600 000, or none for a request with its own stall timeout. */
  headersTimeoutMs?: number;
  /** Sent on every request. */
  userAgent?: string;
}

/** A big file is read this much at a time. */
const READ_CHUNK = 1 << 20;
/** Up to this size, a file is read whole and sent in one buffer. */
const SMALL_BODY = 256 * 1024;

// Loaded at the first request, not at import: a command line that only checks its arguments
// starts without paying for undici and form-data.
interface Modules {
  request: typeof import('undici').request;
  FormData: typeof FormDataType;
  agent: Dispatcher;
}
let modules: Promise<Modules> | undefined;
/** Once loaded: every later request uses them without waiting a turn for a settled promise. */
let loaded: Modules | undefined;
function load(): Promise<Modules> {
  modules ??= Promise.all([import('undici'), import('form-data')]).then(([undici, formData]) => {
    loaded = {
      request: undici.request,
      FormData: formData.default,
      // undici's defaults: sockets with a write high-water mark of 64 KiB (16 KiB over TLS).
      agent: new undici.Agent(),
    };
    return loaded;
  });
  return modules;
}

export function undiciTransport(options: UndiciTransportOptions = {}): Transport {
  const userAgent = options.userAgent ?? 'astrometry-net-client';
  return {
    async request(req: TransportRequest): Promise<TransportResponse> {
      const { request: undiciRequest, FormData, agent } = loaded ?? (await load());
      // An upload is watched by our own timers (bytes moving out count as progress, and undici
      // has no timer for a body it sends). Every other request is bounded by undici's own
      // timers, which share one clock: no AbortController and no two timers per request.
      let dog: Watchdog | undefined;
      // Only a big file read from disk is encoded asynchronously; a form or bytes are not awaited.
      const encoding = encodeBody(
        FormData,
        req.body,
        (sent, total) => {
          dog?.touch();
          req.onUploadProgress?.(sent, total);
        },
        options.dispatcher === undefined,
      );
      const encoded = encoding instanceof Promise ? await encoding : encoding;
      dog = req.body?.kind === 'multipart' ? watch(req) : undefined;
      const bounds = dog ? undefined : boundsOf(req, options);
      try {
        const response = await undiciRequest(req.url, {
          method: req.method,
          headers: { 'user-agent': userAgent, ...encoded.headers, ...req.headers },
          // undici sends an async iterable as it is pulled (its types list only streams). Not
          // Readable.from(): that reads ahead 16 chunks, and the file's buffers are reused.
          body: encoded.body as string | Buffer | undefined,
          ...(dog ? { signal: dog.signal } : req.signal ? { signal: req.signal } : {}),
          dispatcher: options.dispatcher ?? agent,
          // An upload with a stall timeout is bounded by the watchdog in every phase; undici's
          // own timers are the backstop for one without.
          bodyTimeout: bounds?.bodyTimeout ?? options.bodyTimeoutMs ?? (req.stallTimeoutMs === undefined ? 120_000 : 0),
          headersTimeout: bounds?.headersTimeout ?? options.headersTimeoutMs ?? (req.stallTimeoutMs === undefined ? 600_000 : 0),
        });
        dog?.touch();
        if (encoded.sentWhole !== undefined) req.onUploadProgress?.(encoded.sentWhole, encoded.sentWhole);
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
        }
        const body = await readCapped(response.body, headers['content-length'], req, dog ? dog.touch : bounds?.check);
        return { status: response.statusCode, headers, body };
      } catch (error) {
        // undici rejects with the signal's reason: the watchdog's NetworkError, or the caller's abort.
        if (dog?.signal.aborted && dog.signal.reason !== undefined) throw dog.signal.reason;
        if (req.signal?.aborted && req.signal.reason !== undefined) throw req.signal.reason;
        throw bounds?.explain(error) ?? error;
      } finally {
        dog?.done();
        // An aborted or failed upload leaves its file open unless it is closed here; awaited, so
        // the file is closed by the time the request settles.
        await encoded.file?.close();
      }
    },
  };
}

/**
 * The bounds of a request without an upload, as undici's timers: the wait for the answer's
 * headers and each wait between two chunks of its body end at the stall timeout or at the
 * overall timeout, whichever is first; a body whose bytes keep moving is checked against the
 * overall timeout at each chunk. `explain` turns undici's timeout errors into ours.
 */
function boundsOf(req: TransportRequest, options: UndiciTransportOptions) {
  const startedAt = Date.now();
  const overall = req.timeoutMs;
  const stall = req.stallTimeoutMs;
  const limit = Math.min(overall ?? Number.POSITIVE_INFINITY, stall ?? Number.POSITIVE_INFINITY);
  const bounded = Number.isFinite(limit) ? Math.max(1, limit) : undefined;
  const overallFirst = overall !== undefined && (stall === undefined || overall <= stall);
  const timedOut = () => new NetworkError(`No complete answer from ${req.url} within ${overall} ms.`);
  return {
    headersTimeout: bounded ?? options.headersTimeoutMs,
    bodyTimeout: bounded ?? options.bodyTimeoutMs,
    check:
      overall === undefined
        ? undefined
        : () => {
            if (Date.now() - startedAt >= overall) throw timedOut();
          },
    explain(error: unknown): unknown {
      const code = (error as { code?: unknown } | null)?.code;
      if (bounded === undefined || (code !== 'UND_ERR_HEADERS_TIMEOUT' && code !== 'UND_ERR_BODY_TIMEOUT')) return undefined;
      const late = overall !== undefined && (overallFirst || Date.now() - startedAt >= overall);
      return late ? timedOut() : new NetworkError(`Stalled: no byte moved to or from ${req.url} for ${stall} ms.`, { cause: error });
    },
  };
}

/** Reads a body to its end, refusing more than `req.maxResponseBytes`, touching the watchdog per chunk. */
async function readCapped(
  body: AsyncIterable<Buffer> & { destroy(error?: Error): unknown },
  contentLength: string | undefined,
  req: TransportRequest,
  touch: (() => void) | undefined,
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
  // A body of declared length goes straight into one buffer of that length: a large file is
  // held once, not as chunks and then again as their concatenation.
  if (declared !== undefined && Number.isSafeInteger(declared) && declared > SMALL_BODY) {
    const whole = new Uint8Array(declared);
    let at = 0;
    for await (const chunk of body) {
      touch?.();
      if (at + chunk.length > declared) {
        body.destroy();
        throw new NetworkError(`The answer from ${req.url} ran past its Content-Length (${declared} bytes).`);
      }
      whole.set(chunk, at);
      at += chunk.length;
    }
    return at === declared ? whole : whole.subarray(0, at);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    touch?.();
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
  body?: string | Buffer | AsyncIterable<Uint8Array>;
  /** A body sent in one write: its size, reported as sent once the answer starts. */
  sentWhole?: number;
  /** The open file an upload reads, to close once the request is over. */
  file?: { close(): Promise<void> };
}

function encodeBody(
  FormData: typeof FormDataType,
  body: RequestBody | undefined,
  onProgress: (sentBytes: number, totalBytes: number) => void,
  /** Whether the sockets are the transport's own Agent's, so that file buffers may be reused. */
  ownSockets: boolean,
): EncodedBody | Promise<EncodedBody> {
  if (!body) return NO_BODY;
  if (body.kind === 'form') {
    const text = new URLSearchParams(body.fields).toString();
    return {
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(text)) },
      body: text,
    };
  }
  const { prefix, suffix, headers } = framing(FormData, body.fields, body.file.field, body.file.filename);
  const { source } = body.file;
  if (source.kind === 'path') {
    // A small file (the usual star field or x/y list) is read at once and sent as one buffer.
    // Read synchronously: at most 256 KiB from the page cache takes microseconds, while each
    // asynchronous fs call costs about 30 µs of CPU in a thread-pool round trip (four per file).
    const bytes = readIfSmall(source.path);
    if (bytes !== undefined) {
      const length = prefix.length + bytes.length + suffix.length;
      return { headers: { ...headers, 'content-length': String(length) }, body: Buffer.concat([prefix, bytes, suffix], length), sentWhole: length };
    }
    return streamFile(source.path, prefix, suffix, headers, onProgress, ownSockets);
  }
  if (source.kind === 'bytes') {
    const bytes = Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength);
    const length = prefix.length + bytes.length + suffix.length;
    return { headers: { ...headers, 'content-length': String(length) }, body: progress([prefix, [bytes], suffix], length, onProgress) };
  }
  const length = prefix.length + source.blob.size + suffix.length;
  return {
    headers: { ...headers, 'content-length': String(length) },
    body: progress([prefix, source.blob.stream() as unknown as AsyncIterable<Uint8Array>, suffix], length, onProgress),
  };
}

/** A big file, streamed between the framing's two halves, its length known from its size. */
async function streamFile(
  path: string,
  prefix: Buffer,
  suffix: Buffer,
  headers: Record<string, string>,
  onProgress: (sentBytes: number, totalBytes: number) => void,
  ownSockets: boolean,
): Promise<EncodedBody> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const length = prefix.length + size + suffix.length;
    return {
      headers: { ...headers, 'content-length': String(length) },
      body: progress([prefix, fileChunks(handle, size, ownSockets), suffix], length, onProgress),
      file: { close: () => handle.close().catch(() => {}) },
    };
  } catch (error) {
    await handle.close().catch(() => {});
    throw error;
  }
}

const NO_BODY: EncodedBody = Object.freeze({ headers: {} });

/**
 * The multipart framing around the file, from `form-data` itself: a form whose file part is
 * empty, split where the file's bytes go. The file is then sent between the two halves, so its
 * bytes are never copied into a form, and the exact Content-Length nova needs is known upfront.
 */
function framing(FormData: typeof FormDataType, fields: Readonly<Record<string, string>>, field: string, filename: string): Framing {
  // A batch sends the same fields (session and options) and file name upload after upload: the
  // framing of the last upload is used again (its boundary is random, and never in a file's bytes
  // but by a 2^-90 chance, however often it is used).
  const key = JSON.stringify([fields, field, filename]);
  if (lastFraming?.key === key) return lastFraming.framing;
  const made = makeFraming(FormData, fields, field, filename);
  lastFraming = { key, framing: made };
  return made;
}

interface Framing {
  prefix: Buffer;
  suffix: Buffer;
  headers: Record<string, string>;
}

let lastFraming: { key: string; framing: Framing } | undefined;

function makeFraming(FormData: typeof FormDataType, fields: Readonly<Record<string, string>>, field: string, filename: string): Framing {
  const form = new FormData();
  // form-data's own boundary costs a crypto.randomBytes call per upload, the most expensive step
  // of a small upload; randomUUID draws from a pool Node refills in bulk. 24 hex digits of a v4
  // UUID carry 90 random bits, in form-data's 50-character shape.
  form.setBoundary(`--------------------------${randomUUID().replaceAll('-', '').slice(0, 24)}`);
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append(field, Buffer.alloc(0), { filename, contentType: 'application/octet-stream' });
  const whole = form.getBuffer();
  const suffix = Buffer.from(`\r\n--${form.getBoundary()}--\r\n`, 'latin1');
  return { prefix: whole.subarray(0, whole.length - suffix.length), suffix, headers: form.getHeaders() as Record<string, string> };
}

/** The whole file when it is at most SMALL_BODY bytes (open, fstat, read, close), else undefined. */
function readIfSmall(path: string): Buffer | undefined {
  const fd = openSync(path, 'r');
  try {
    const { size } = fstatSync(fd);
    if (size > SMALL_BODY) return undefined;
    // One byte more than the size: a file that grew meanwhile goes the streaming way instead.
    const bytes = Buffer.allocUnsafe(size + 1);
    let filled = 0;
    for (let n; filled < bytes.length && (n = readSync(fd, bytes, filled, bytes.length - filled, null)) > 0; ) filled += n;
    if (filled > size) return undefined;
    return bytes.subarray(0, filled);
  } finally {
    closeSync(fd);
  }
}

/**
 * A big file in 1 MiB reads, the next chunk read while the last one is sent.
 *
 * On the transport's own sockets (`reuse`), through two buffers used in turn. A buffer is
 * refilled only when the consumer asks for the chunk after the one it held, and undici asks for
 * a chunk only once the socket has drained the previous one: it writes each chunk corked, and a
 * 1 MiB chunk is above the socket's high-water mark (64 KiB, or 16 KiB over TLS), so every write
 * is followed by a wait for 'drain'. So a 1 GB upload holds 2 MiB of file data, instead of
 * leaving a gigabyte of spent chunks for the garbage collector, which lets about 64 MB of them
 * pile up before it runs. A dispatcher of the caller's may have larger marks (then undici asks
 * for the next chunk at once) or keep chunks itself: each chunk gets a buffer of its own there.
 */
async function* fileChunks(handle: FileHandle, size: number, reuse: boolean): AsyncGenerator<Uint8Array> {
  const buffers = reuse ? [Buffer.allocUnsafeSlow(READ_CHUNK), Buffer.allocUnsafeSlow(READ_CHUNK)] : [];
  const bufferFor = (turn: number): Buffer => buffers[turn] ?? Buffer.allocUnsafeSlow(READ_CHUNK);
  let position = 0;
  const fill = async (buffer: Buffer): Promise<number> => {
    const want = Math.min(READ_CHUNK, size - position);
    const at = position;
    position += want;
    let filled = 0;
    while (filled < want) {
      const { bytesRead } = await handle.read(buffer, filled, want - filled, at + filled);
      if (bytesRead === 0) throw new Error(`The file shrank while it was uploaded (${at + filled} of ${size} bytes).`);
      filled += bytesRead;
    }
    return filled;
  };
  let turn = 0;
  let buffer = bufferFor(turn);
  let next = fill(buffer);
  while (true) {
    const current = buffer;
    const filled = await next;
    if (filled === 0) break;
    turn ^= 1;
    buffer = bufferFor(turn);
    next = position < size ? fill(buffer) : Promise.resolve(0);
    // Keep the read ahead from rejecting unobserved if the upload is abandoned meanwhile.
    next.catch(() => {});
    yield current.subarray(0, filled);
  }
}

/** Concatenates the parts, reporting bytes as the consumer takes them. */
async function* progress(
  parts: readonly (Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>)[],
  total: number,
  onProgress: (sentBytes: number, totalBytes: number) => void,
): AsyncGenerator<Uint8Array> {
  let sent = 0;
  for (const part of parts) {
    const chunks = part instanceof Uint8Array ? [part] : part;
    for await (const chunk of chunks) {
      yield chunk;
      sent += chunk.byteLength;
      onProgress(Math.min(sent, total), total);
    }
  }
}
