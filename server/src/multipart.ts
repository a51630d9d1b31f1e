/**
 * A streaming multipart/form-data parser with Django's field semantics.
 *
 * Files go straight to disk (uploads can be hundreds of MiB) while their SHA-1 is computed;
 * plain fields are kept in memory under a small cap, like Django's
 * DATA_UPLOAD_MAX_MEMORY_SIZE. A part carrying `filename=` is a file even when it is named
 * `request-json` (Django files it under FILES, so nova then answers "no json").
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

export class BodyTooLargeError extends Error {
  constructor() {
    super('request body exceeds the upload limit');
    this.name = 'BodyTooLargeError';
  }
}

/** Malformed body or too much non-file data: Django answers 400. */
export class BadRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequestError';
  }
}

export interface UploadedFile {
  /** Temporary path of the stored bytes (caller moves or deletes it). */
  path: string;
  /** Sanitized client file name (last path component), never used as a path here. */
  filename: string;
  size: number;
  sha1: string;
}

export interface ParsedForm {
  /** Plain fields; Django's `POST.get` returns the last value of a repeated name. */
  fields: Map<string, string[]>;
  /** The last part named `file` that had a usable file name. */
  file?: UploadedFile;
}

export interface MultipartLimits {
  /** Total request body bytes; past it BodyTooLargeError. */
  maxBodyBytes: number;
  /** Total bytes of plain (non-file) fields; past it BadRequestError. */
  maxFieldBytes: number;
  /** Directory for file parts. */
  tmpDir: string;
  /** The file part we keep; others are read and discarded. */
  fileField?: string;
}

const MAX_HEADER_BYTES = 16 * 1024;
const MAX_PARTS = 1000;
const LF = Buffer.from('\n');
const HEADER_END = Buffer.from('\r\n\r\n');

export function boundaryOf(contentType: string): string | null {
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const b = m?.[1] ?? m?.[2];
  if (!b || b.length > 200) return null;
  return b;
}

interface PartHeaders {
  name: string | null;
  filename: string | null;
}

export function parsePartHeaders(block: string): PartHeaders {
  let name: string | null = null;
  let filename: string | null = null;
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    if (line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
    const params = parseParams(line.slice(colon + 1));
    name = params.get('name') ?? null;
    const star = params.get('filename*');
    filename = params.get('filename') ?? null;
    if (star !== undefined) {
      const m = /^([^']*)'[^']*'(.*)$/.exec(star);
      try {
        filename = decodeURIComponent(m?.[2] ?? star);
      } catch {
        filename = m?.[2] ?? star;
      }
    }
  }
  return { name, filename };
}

function parseParams(value: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = value.indexOf(';');
  if (i < 0) return out;
  const s = value;
  while (i < s.length) {
    while (i < s.length && (s[i] === ';' || s[i] === ' ' || s[i] === '\t')) i++;
    const eq = s.indexOf('=', i);
    if (eq < 0) break;
    const key = s.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    let val = '';
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        val += s[i];
        i++;
      }
      i++;
    } else {
      const end = s.indexOf(';', i);
      val = (end < 0 ? s.slice(i) : s.slice(i, end)).trim();
      i = end < 0 ? s.length : end;
    }
    if (!out.has(key)) out.set(key, val);
  }
  return out;
}

/** Django's `sanitize_file_name`: last path component; ``""``, `.` and `..` mean "no file". */
export function sanitizeFilename(raw: string): string | null {
  // eslint-disable-next-line no-control-regex
  let n = raw.replace(/[\u0000-\u001f\u007f]/g, '');
  n = n.slice(n.lastIndexOf('/') + 1);
  n = n.slice(n.lastIndexOf('\\') + 1);
  if (n === '' || n === '.' || n === '..') return null;
  return n.slice(0, 255);
}

type Sink =
  | { kind: 'field'; name: string; chunks: Buffer[] }
  | { kind: 'file'; file: UploadedFile; stream: WriteStream; hash: ReturnType<typeof createHash> }
  | { kind: 'skip' };

export async function parseMultipart(
  body: AsyncIterable<Buffer>,
  boundary: string,
  limits: MultipartLimits,
): Promise<ParsedForm> {
  const fileField = limits.fileField ?? 'file';
  // Django finds boundaries after a bare LF too, with an optional CR before it: the official
  // client.py (Python's email generator) ends its boundary lines and its JSON part with '\n'.
  const delim = Buffer.from(`\n--${boundary}`);
  const fields = new Map<string, string[]>();
  const files: UploadedFile[] = [];
  let kept: UploadedFile | undefined;
  let state: 'preamble' | 'after-delim' | 'headers' | 'body' | 'done' = 'preamble';
  // The first delimiter has no line break before it; a virtual one lets one search cover all.
  let buf: Buffer = Buffer.from(LF);
  let total = 0;
  let fieldBytes = 0;
  let parts = 0;
  let sink: Sink = { kind: 'skip' };

  const write = async (data: Buffer): Promise<void> => {
    if (data.length === 0) return;
    if (sink.kind === 'field') {
      fieldBytes += data.length;
      if (fieldBytes > limits.maxFieldBytes) throw new BadRequestError('form fields too large');
      sink.chunks.push(data);
    } else if (sink.kind === 'file') {
      sink.hash.update(data);
      sink.file.size += data.length;
      const s = sink.stream;
      if (!s.write(data)) await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          s.off('error', onError);
          resolve();
        };
        const onError = (e: Error) => {
          s.off('drain', onDrain);
          reject(e);
        };
        s.once('drain', onDrain);
        s.once('error', onError);
      });
    }
  };

  const endPart = async (): Promise<void> => {
    const s = sink;
    sink = { kind: 'skip' };
    if (s.kind === 'field') {
      const value = Buffer.concat(s.chunks).toString('utf8');
      const list = fields.get(s.name) ?? [];
      list.push(value);
      fields.set(s.name, list);
    } else if (s.kind === 'file') {
      await closeStream(s.stream);
      s.file.sha1 = s.hash.digest('hex');
      if (kept) await rm(kept.path, { force: true });
      kept = s.file;
    }
  };

  const startPart = (headerBlock: string): void => {
    parts++;
    if (parts > MAX_PARTS) throw new BadRequestError('too many parts');
    const h = parsePartHeaders(headerBlock);
    if (h.name === null) {
      sink = { kind: 'skip' };
    } else if (h.filename === null) {
      sink = { kind: 'field', name: h.name, chunks: [] };
    } else {
      const clean = sanitizeFilename(h.filename);
      if (clean === null || h.name !== fileField) {
        sink = { kind: 'skip' };
      } else {
        const file: UploadedFile = {
          path: join(limits.tmpDir, `upload-${randomBytes(12).toString('hex')}`),
          filename: clean,
          size: 0,
          sha1: '',
        };
        files.push(file);
        const stream = createWriteStream(file.path, { flags: 'wx', mode: 0o600 });
        // Errors surface through write()/close; keep an early one from being unhandled.
        stream.on('error', () => undefined);
        sink = { kind: 'file', file, stream, hash: createHash('sha1') };
      }
    }
  };

  const step = async (final: boolean): Promise<void> => {
    for (;;) {
      if (state === 'done') {
        buf = Buffer.alloc(0);
        return;
      }
      if (state === 'preamble' || state === 'body') {
        const idx = buf.indexOf(delim);
        if (idx < 0) {
          // Keep what could start a delimiter, and the byte before it (a CR that belongs to it).
          const keep = Math.min(buf.length, delim.length);
          if (state === 'body') await write(buf.subarray(0, buf.length - keep));
          buf = buf.subarray(buf.length - keep);
          if (final) throw new BadRequestError('multipart body ended inside a part');
          return;
        }
        if (state === 'body') {
          await write(buf.subarray(0, idx > 0 && buf[idx - 1] === 0x0d ? idx - 1 : idx));
          await endPart();
        }
        buf = buf.subarray(idx + delim.length);
        state = 'after-delim';
        continue;
      }
      if (state === 'after-delim') {
        if (buf.length < 2) {
          if (final) throw new BadRequestError('truncated multipart delimiter');
          return;
        }
        if (buf[0] === 0x2d && buf[1] === 0x2d) {
          state = 'done';
          continue;
        }
        let i = 0;
        while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
        if (buf.length < i + 1 || (buf[i] === 0x0d && buf.length < i + 2)) {
          if (final) throw new BadRequestError('truncated multipart delimiter');
          return;
        }
        const eol = buf[i] === 0x0a ? 1 : buf[i] === 0x0d && buf[i + 1] === 0x0a ? 2 : 0;
        if (eol === 0) throw new BadRequestError('malformed multipart delimiter');
        buf = buf.subarray(i + eol);
        state = 'headers';
        continue;
      }
      // headers
      let headerBlock: string;
      if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) {
        headerBlock = '';
        buf = buf.subarray(2);
      } else {
        const end = buf.indexOf(HEADER_END);
        if (end < 0) {
          if (buf.length > MAX_HEADER_BYTES) throw new BadRequestError('multipart headers too large');
          if (final) throw new BadRequestError('truncated multipart headers');
          return;
        }
        headerBlock = buf.subarray(0, end).toString('utf8');
        buf = buf.subarray(end + HEADER_END.length);
      }
      startPart(headerBlock);
      state = 'body';
    }
  };

  try {
    for await (const chunk of body) {
      total += chunk.length;
      if (total > limits.maxBodyBytes) throw new BodyTooLargeError();
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      await step(false);
    }
    await step(true);
    if ((state as string) !== 'done') throw new BadRequestError('multipart body without closing delimiter');
  } catch (err) {
    const open = sink as Sink; // assigned inside closures; TS cannot see that
    if (open.kind === 'file') await closeStream(open.stream).catch(() => undefined);
    await Promise.all(files.map((f) => rm(f.path, { force: true })));
    throw err;
  }
  for (const f of files) if (f !== kept) await rm(f.path, { force: true });
  return kept ? { fields, file: kept } : { fields };
}

function closeStream(s: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.closed) {
      resolve();
      return;
    }
    s.once('error', reject);
    s.end(() => resolve());
  });
}
