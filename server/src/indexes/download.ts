/**
 * One index file from a mirror into a folder, resumably: the bytes go to `<name>.part`, a rerun
 * asks only for what is missing (HTTP Range), and the file gets its final name only once it has
 * the announced size and passes validateIndexFile. A refused file is deleted, `.part` included,
 * so nothing invalid is ever found under an index name (solve-field loads every index-*.fits).
 */
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { request, type Dispatcher } from 'undici';
import { DownloadCutError, IndexWriteError, InvalidIndexError, MirrorError } from './errors.js';
import { validateIndexFile, type ExpectedIndex } from './validate.js';

export interface DownloadProgress {
  /** Bytes on disk so far (earlier runs included). */
  received: number;
  total: number;
  /** Bytes on disk before this transfer began (resumed from). */
  resumedFrom: number;
}

export interface DownloadOptions {
  dispatcher: Dispatcher;
  signal?: AbortSignal;
  /** Longest wait for the response headers, ms. */
  headersTimeoutMs: number;
  /** Longest silence between two chunks of the body, ms. */
  bodyTimeoutMs: number;
  /** Largest size the mirror may announce for this file, bytes: past it nothing is fetched. */
  maxBytes: number;
  /**
   * Slowest average the transfer may keep, bytes a second: the body must have arrived within
   * bodyTimeoutMs plus the missing bytes at this rate, or it is cut (and can resume), so a
   * mirror that trickles a byte just inside each silence limit still cannot hold a run forever.
   */
  minBytesPerSecond: number;
  onProgress?: (p: DownloadProgress) => void;
}

export interface DownloadResult {
  total: number;
  resumedFrom: number;
  /** Bytes this transfer carried. */
  transferred: number;
  elapsedMs: number;
}

export const PART_SUFFIX = '.part';

const sizeOf = (file: string) => stat(file).then((s) => s.size, () => 0);

// "bytes 100-199/1000" gives { start: 100, total: 1000 }; "bytes (star)/1000" gives { start: -1, total: 1000 }.
function contentRange(header: string | string[] | undefined): { start: number; total: number } | null {
  const m = /^bytes (?:(\d+)-\d+|\*)\/(\d+)$/.exec(String(header ?? '').trim());
  return m ? { start: m[1] === undefined ? -1 : Number(m[1]), total: Number(m[2]) } : null;
}

/**
 * Downloads `url` to `dir/name`, resuming `dir/name.part`. Throws MirrorError (the mirror will
 * not give this file), DownloadCutError (the transfer broke off; `.part` is kept for a resume),
 * IndexWriteError (the disk is full or the folder not writable; `.part` is kept) or
 * InvalidIndexError (the file is refused; nothing is left).
 */
export async function downloadIndexFile(
  url: string,
  dir: string,
  name: string,
  expected: Omit<ExpectedIndex, 'size'>,
  opts: DownloadOptions,
): Promise<DownloadResult> {
  const final = path.join(dir, name);
  const part = final + PART_SUFFIX;
  const started = Date.now();
  let from = await sizeOf(part);
  let res = await get(url, from, opts);
  let total: number;
  if (from > 0 && res.statusCode === 416) {
    // The part may already be whole (a run cut between the last byte and the rename).
    const range = contentRange(res.headers['content-range']);
    await res.body.dump().catch(() => undefined);
    if (range && range.total === from) return finish(from, 0);
    await rm(part, { force: true });
    from = 0;
    res = await get(url, 0, opts);
  }
  if (res.statusCode === 206) {
    const range = contentRange(res.headers['content-range']);
    if (!range || range.start !== from) {
      await res.body.dump().catch(() => undefined);
      throw new MirrorError(url, `answered a resume from byte ${from} with Content-Range "${String(res.headers['content-range'])}"`);
    }
    total = range.total;
  } else if (res.statusCode === 200) {
    // No Range support (or a fresh start): the whole file again, over whatever part there was.
    from = 0;
    const length = Number(res.headers['content-length']);
    if (!Number.isSafeInteger(length) || length <= 0) {
      await res.body.dump().catch(() => undefined);
      throw new MirrorError(url, 'announced no Content-Length, so the file cannot be checked');
    }
    total = length;
  } else {
    await res.body.dump().catch(() => undefined);
    throw new MirrorError(url, `HTTP ${res.statusCode}`);
  }
  if (total > opts.maxBytes) {
    res.body.destroy();
    throw new MirrorError(url, `announced ${total} bytes, more than the ${opts.maxBytes} this file may have; nothing was fetched`);
  }

  // pipeline listens for the file's errors (a full disk, an unwritable folder) from the open on,
  // so they end the transfer as a rejection here, never as an uncaught 'error' event.
  const out = createWriteStream(part, { flags: from > 0 ? 'a' : 'w' });
  let writeError: Error | undefined;
  out.once('error', (err) => (writeError = err));
  let received = from;
  const deadlineMs = opts.bodyTimeoutMs + Math.ceil(((total - from) * 1000) / opts.minBytesPerSecond);
  const deadline = setTimeout(
    () => res.body.destroy(new Error(`not whole within ${Math.round(deadlineMs / 1000)} s (slower than ${opts.minBytesPerSecond} bytes/s on average)`)),
    deadlineMs,
  );
  try {
    await pipeline(
      res.body,
      async function* (body: AsyncIterable<Buffer>) {
        for await (const chunk of body) {
          received += chunk.length;
          if (received > total) throw new InvalidIndexError(name, `the mirror sent more than the ${total} bytes it announced`);
          yield chunk;
          opts.onProgress?.({ received, total, resumedFrom: from });
        }
      },
      out,
    );
  } catch (err) {
    if (err instanceof InvalidIndexError) {
      await rm(part, { force: true });
      throw err;
    }
    if (writeError) throw new IndexWriteError(part, writeError);
    if (opts.signal?.aborted) throw err;
    throw new DownloadCutError(url, received, total, err);
  } finally {
    clearTimeout(deadline);
  }
  if (received < total) throw new DownloadCutError(url, received, total, new Error('the body ended early'));
  return finish(total, received - from);

  async function finish(size: number, transferred: number): Promise<DownloadResult> {
    try {
      await validateIndexFile(part, name, { ...expected, size });
    } catch (err) {
      await rm(part, { force: true });
      throw err;
    }
    await rename(part, final);
    return { total: size, resumedFrom: from, transferred, elapsedMs: Date.now() - started };
  }
}

function get(url: string, from: number, opts: DownloadOptions): Promise<Dispatcher.ResponseData> {
  return request(url, {
    method: 'GET',
    dispatcher: opts.dispatcher,
    headers: from > 0 ? { range: `bytes=${from}-` } : {},
    headersTimeout: opts.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs,
    ...(opts.signal ? { signal: opts.signal } : {}),
  }).catch((err: unknown) => {
    if (opts.signal?.aborted) throw err;
    throw new DownloadCutError(url, from, -1, err);
  });
}
