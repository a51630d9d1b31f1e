/**
 * What a user can hand us to solve, and its serialisable description.
 *
 * The machine's context must survive a snapshot and the inspector, so it holds a description
 * of the input (a path, a URL, a source list, or a reference to bytes held in memory), never
 * the bytes themselves.
 */
import { ValidationError } from './errors.js';
import { platform } from './platform.js';

export interface SourceList {
  /** Star x positions, pixels (1-based FITS convention, as solve-field reads them). */
  x: readonly number[];
  /** Star y positions, pixels; same length as `x`. */
  y: readonly number[];
}

/** Anything `solve()` accepts. A string is a URL when it starts with http(s)://, else a path. */
export type SolveInput =
  | string
  | { file: string }
  | { url: string }
  | { bytes: Uint8Array; filename?: string }
  | { blob: Blob; filename?: string }
  | { sourceList: SourceList };

/** The serialisable description the machine keeps in its context. */
export type UploadDescriptor =
  | { readonly kind: 'file'; readonly path: string; readonly filename: string }
  | { readonly kind: 'memory'; readonly ref: string; readonly filename: string; readonly size: number }
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'sourceList'; readonly x: readonly number[]; readonly y: readonly number[] };

/** Bytes or Blobs kept outside the snapshot, looked up by `ref` when the upload starts. */
export type MemoryStore = Map<string, Uint8Array | Blob>;

// nova keeps URLs in a URLField of max length 200; longer ones 500 on PostgreSQL.
const MAX_URL_LENGTH = 200;

function basename(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || 'upload';
}

let memoryCounter = 0;

export function describeInput(input: SolveInput, memory: MemoryStore): UploadDescriptor {
  if (typeof input === 'string') {
    return /^https?:\/\//i.test(input) ? describeInput({ url: input }, memory) : describeInput({ file: input }, memory);
  }
  if (typeof input !== 'object' || input === null) {
    throw new ValidationError('input', input, 'a file path, a URL, { bytes }, { blob } or { sourceList: { x, y } }');
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
  if ('sourceList' in input) return { kind: 'sourceList', ...checkSourceList(input.sourceList) };
  throw new ValidationError('input', input, 'a file path, a URL, { bytes }, { blob } or { sourceList: { x, y } }');
}

/**
 * `describeInput`, then checks what can be checked before any request: that a path is a
 * readable file. The edge of every facade calls this one.
 */
export function acceptInput(input: SolveInput, memory: MemoryStore): UploadDescriptor {
  const descriptor = describeInput(input, memory);
  if (descriptor.kind === 'file') platform().checkReadableFile(descriptor.path);
  return descriptor;
}

function remember(value: Uint8Array | Blob, size: number, filename: string, memory: MemoryStore): UploadDescriptor {
  const ref = `memory-${++memoryCounter}`;
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

function checkSourceList(list: unknown): { x: number[]; y: number[] } {
  const l = list as Partial<SourceList> | null;
  if (!l || !Array.isArray(l.x) || !Array.isArray(l.y)) throw new ValidationError('sourceList', list, 'an object { x: number[], y: number[] }');
  if (l.x.length === 0) throw new ValidationError('sourceList.x', l.x, 'a non-empty list of positions');
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
