/**
 * A stream input (a Node Readable, a web ReadableStream, any async iterable of bytes) read into
 * memory once, so a retried upload sends the same bytes. Loaded only for stream inputs.
 */
import { concatBytes } from '../transport/bytes.js';
import type { ByteStream } from './solve-input.js';

export async function readStream(stream: ByteStream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const iterable: AsyncIterable<Uint8Array> =
    Symbol.asyncIterator in stream ? (stream as AsyncIterable<Uint8Array>) : iterateReader(stream as ReadableStream<Uint8Array>);
  for await (const chunk of iterable) chunks.push(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk);
  return concatBytes(chunks);
}

async function* iterateReader(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
