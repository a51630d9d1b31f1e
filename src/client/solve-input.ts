/**
 * What a user can hand us to solve, and its serialisable description.
 *
 * The machine's context must survive a snapshot and the inspector, so it holds a description
 * of the input (a path, a URL, a source list, or a reference to bytes held in memory), never
 * the bytes themselves.
 */
import { ValidationError } from '../errors.js';
import { platform } from '../platform/web-platform.js';
import type { SolveHints } from './hints.js';
import { encodeUploadOptions, type UploadOptions, type WireUploadOptions } from '../protocol/upload-options.js';

export interface SourceList {
  /** Star x positions, pixels (1-based FITS convention, as solve-field reads them). */
  x: readonly number[];
  /** Star y positions, pixels; same length as `x`. */
  y: readonly number[];
}

/** Anything `solve()` accepts. A string is a URL when it starts with http(s)://, else a path. */
export type SolveInput =
  | string
  | URL
  | { file: string }
  | { url: string }
  | { bytes: Uint8Array; filename?: string }
  | { blob: Blob; filename?: string }
  /** A Node Readable, a web ReadableStream or any async iterable of bytes. It is read into
   * memory once, at the upload, so a retry after an expired session can send it again. */
  | { stream: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>; filename?: string }
  | { sourceList: SourceList };

/**
 * The serialisable description the machine keeps in its context, with the hints sent along
 * (src/client/hints.ts): they belong to this upload, and a blind retry is another upload.
 */
export type UploadDescriptor = (
  | { readonly kind: 'file'; readonly path: string; readonly filename: string }
  | { readonly kind: 'memory'; readonly ref: string; readonly filename: string; readonly size: number }
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'sourceList'; readonly x: readonly number[]; readonly y: readonly number[] }
) & { readonly hints?: SolveHints };

/** Bytes or Blobs kept outside the snapshot, looked up by `ref` when the upload starts. */
export type MemoryStore = Map<string, Uint8Array | Blob | ByteStream>;

export type ByteStream = AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;

// nova keeps URLs in a URLField of max length 200; longer ones 500 on PostgreSQL.
const MAX_URL_LENGTH = 200;

function basename(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || 'upload';
}

export function describeInput(input: SolveInput, memory: MemoryStore): UploadDescriptor {
  if (typeof URL !== 'undefined' && input instanceof URL) return { kind: 'url', url: checkUrl(input.href) };
  if (typeof input === 'string') {
    return /^https?:\/\//i.test(input) ? describeInput({ url: input }, memory) : describeInput({ file: input }, memory);
  }
  if (typeof input !== 'object' || input === null) {
    throw new ValidationError('input', input, 'a file path, a URL, { bytes }, { blob }, { stream } or { sourceList: { x, y } }');
  }
  if ('file' in input) {
    if (typeof input.file !== 'string' || input.file === '') throw new ValidationError('file', input.file, 'a path to an image file');
    return { kind: 'file', path: input.file, filename: basename(input.file) };
  }
  if ('url' in input) return { kind: 'url', url: checkUrl(input.url) };
  if ('bytes' in input) {
    if (!(input.bytes instanceof Uint8Array) || input.bytes.byteLength === 0) {
      throw new ValidationError('bytes', input.bytes, 'a non-empty Uint8Array or Buffer');
    }
    return remember(input.bytes, input.bytes.byteLength, input.filename ?? 'image', memory);
  }
  if ('blob' in input) {
    if (typeof Blob === 'undefined' || !(input.blob instanceof Blob) || input.blob.size === 0) {
      throw new ValidationError('blob', input.blob, 'a non-empty Blob or File');
    }
    const name = input.filename ?? ((input.blob as { name?: unknown }).name as string | undefined) ?? 'image';
    return remember(input.blob, input.blob.size, name, memory);
  }
  if ('stream' in input) {
    const stream = input.stream as unknown;
    const readable =
      typeof stream === 'object' &&
      stream !== null &&
      (Symbol.asyncIterator in stream || typeof (stream as ReadableStream).getReader === 'function');
    if (!readable) throw new ValidationError('stream', stream, 'a Readable, a ReadableStream or an async iterable of bytes');
    return remember(input.stream, 0, input.filename ?? 'image', memory);
  }
  if ('sourceList' in input) return { kind: 'sourceList', ...checkSourceList(input.sourceList) };
  throw new ValidationError('input', input, 'a file path, a URL, { bytes }, { blob }, { stream } or { sourceList: { x, y } }');
}

/** Reads a stream to its end. */

/**
 * `describeInput`, then checks what can be checked before any request: that a path is a
 * readable file. The edge of every facade calls this one.
 */
export function acceptInput(input: SolveInput, memory: MemoryStore): UploadDescriptor {
  const descriptor = describeInput(input, memory);
  if (descriptor.kind === 'file') platform().checkReadableFile(descriptor.path);
  return descriptor;
}

function remember(value: Uint8Array | Blob | ByteStream, size: number, filename: string, memory: MemoryStore): UploadDescriptor {
  // A reference that cannot collide across processes: a solve persisted before its upload and
  // restored elsewhere must never find another input's bytes under its name.
  const ref = `memory-${globalThis.crypto.randomUUID()}`;
  memory.set(ref, value);
  return { kind: 'memory', ref, filename, size };
}

function checkUrl(url: unknown): string {
  if (typeof url !== 'string') throw new ValidationError('url', url, 'an http or https URL');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError('url', url, 'an http or https URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ValidationError('url', url, 'an http or https URL');
  if (url.length > MAX_URL_LENGTH) throw new ValidationError('url', url, `a URL of at most ${MAX_URL_LENGTH} characters (nova's limit)`);
  return url;
}

/** The most positions a source list may have. */
export const MAX_SOURCE_ROWS = 1_000_000;

function checkSourceList(list: unknown): { x: number[]; y: number[] } {
  const l = list as Partial<SourceList> | null;
  if (!l || !Array.isArray(l.x) || !Array.isArray(l.y)) throw new ValidationError('sourceList', list, 'an object { x: number[], y: number[] }');
  if (l.x.length === 0) throw new ValidationError('sourceList.x', l.x, 'a non-empty list of positions');
  // nova solves from the brightest few hundred; a million rows is a bound, not a need.
  if (l.x.length > MAX_SOURCE_ROWS) throw new ValidationError('sourceList.x', `${l.x.length} positions`, `at most ${MAX_SOURCE_ROWS} positions`);
  if (l.x.length !== l.y.length) {
    throw new ValidationError('sourceList.y', `${l.y.length} values`, `as many values as sourceList.x (${l.x.length})`);
  }
  for (const axis of ['x', 'y'] as const) {
    const values = l[axis] as readonly unknown[];
    const i = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v) || v <= 0);
    if (i >= 0) throw new ValidationError(`sourceList.${axis}[${i}]`, values[i], 'a finite pixel position greater than 0');
  }
  return { x: [...(l.x as number[])], y: [...(l.y as number[])] };
}

/**
 * An input and its upload options, checked together before any request: the options first (a
 * refused option must not leave the input's bytes in the memory store), then what only the
 * pair can tell (a source list is solved against the image size, so it needs both), then the
 * input. Every facade's edge calls this one.
 */
export function acceptUpload(
  input: SolveInput,
  options: UploadOptions | undefined,
  memory: MemoryStore,
): { upload: UploadDescriptor; options: WireUploadOptions } {
  const wire = encodeUploadOptions(options);
  if (typeof input === 'object' && input !== null && 'sourceList' in input) {
    for (const [name, key] of [['imageWidth', 'image_width'], ['imageHeight', 'image_height']] as const) {
      if (wire[key] === undefined) {
        throw new ValidationError(name, undefined, `the image's ${name === 'imageWidth' ? 'width' : 'height'} in pixels: a source list is solved against the image size, so it needs imageWidth and imageHeight`);
      }
    }
  }
  return { upload: acceptInput(input, memory), options: wire };
}
