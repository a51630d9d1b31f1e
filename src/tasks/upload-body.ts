/**
 * A solve's upload descriptor (what its context keeps: a path, a URL, a source list, or a
 * reference to bytes in the session's memory store) turned into what the protocol sends.
 */
import { ValidationError } from '../errors.js';
import type { ByteStream, MemoryStore, UploadDescriptor } from '../client/solve-input.js';
import type { UploadBody } from '../protocol/api.js';

export async function uploadBody(descriptor: UploadDescriptor, memory: MemoryStore): Promise<UploadBody> {
  if (descriptor.kind === 'url' || descriptor.kind === 'sourceList') return descriptor;
  if (descriptor.kind === 'file') return { kind: 'file', filename: descriptor.filename, source: { kind: 'path', path: descriptor.path } };
  let value = memory.get(descriptor.ref);
  if (value !== undefined && !(value instanceof Uint8Array) && !(typeof Blob !== 'undefined' && value instanceof Blob)) {
    // A stream can be read once: keep its bytes so a second attempt sends the same upload.
    const { readStream } = await import('../client/read-stream.js');
    value = await readStream(value as ByteStream);
    memory.set(descriptor.ref, value);
  }
  if (value === undefined) {
    // Bytes live only in the process they were handed to; a solve restored elsewhere cannot send them.
    throw new ValidationError('bytes', descriptor.filename, 'bytes held by this process: a solve restored in another process can upload only a file path or a URL');
  }
  return { kind: 'file', filename: descriptor.filename, source: value instanceof Uint8Array ? { kind: 'bytes', bytes: value } : { kind: 'blob', blob: value } };
}
