/**
 * Turning a submission's bytes into an Image (nova's `dosub`, docs/nova-protocol.md#ingestion): fetch the URL
 * if any, gunzip, sniff the content, store the image once per distinct content, and report
 * failures as the exception line nova's traceback would end with.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { writeXyTable } from 'astrometry-net-client/fits';
import { probeFile, type Probe } from './probe.js';
import type { Dirs, ImageRow, SubmissionRow } from './store/server-store.js';
import { fetchUrlToFile, filenameFromUrl, type UrlFetchLimits } from './url-fetch.js';

/** Fixed file names inside server-owned directories. */
export const FILES = {
  upload: 'upload',
  gunzipped: 'gunzipped',
  image: 'file',
  xylist: 'xylist.fits',
} as const;

export type IngestResult =
  | {
      ok: true;
      image: Omit<ImageRow, 'id' | 'createdAt'>;
      imagePath: string;
      originalFilename: string;
      /** A source list's rows, as read (storeImage writes them as the solver's FITS table). */
      xy?: { x: ArrayLike<number>; y: ArrayLike<number> };
    }
  | { ok: false; error: string; originalFilename: string };

export interface IngestContext {
  urlFetch: UrlFetchLimits;
  /** Cap on gunzipped size: a small .gz must not fill the disk. */
  maxDecompressedBytes: number;
  /** Rows a source list may have; past it the submission fails. */
  maxSourceRows: number;
  signal: AbortSignal;
}

export async function ingest(store: Dirs, sub: SubmissionRow, ctx: IngestContext): Promise<IngestResult> {
  const dir = store.submissionDir(sub.id);
  await mkdir(dir, { recursive: true });
  const upload = join(dir, FILES.upload);
  let originalFilename = sub.originalFilename;

  if (sub.source.kind === 'none' || sub.source.kind === 'url') {
    const url = sub.source.kind === 'url' ? sub.source.url : null;
    // Unlink rather than truncate: an earlier attempt's file may be hard-linked into images/.
    await rm(upload, { force: true });
    const fetched = await fetchUrlToFile(url, upload, ctx.urlFetch, ctx.signal);
    if (!fetched.ok) return { ok: false, error: fetched.error, originalFilename };
    const name = url === null ? '' : filenameFromUrl(url);
    if (name !== '') originalFilename = name;
  }

  let input = upload;
  if (await isGzip(upload)) {
    const out = join(dir, FILES.gunzipped);
    await rm(out, { force: true });
    try {
      await gunzipTo(upload, out, ctx.maxDecompressedBytes);
      input = out;
      const i = originalFilename.indexOf('.gz');
      if (i !== -1) originalFilename = originalFilename.slice(0, i);
    } catch {
      // nova's `except: pass`: a broken gzip is tried as the raw file.
      await rm(out, { force: true });
    }
  }

  const probe = await probeFile(input, ctx.maxSourceRows);
  if (probe.kind === 'unsupported') return { ok: false, error: probe.error, originalFilename };
  const sha1 = await sha1File(input);
  return {
    ok: true,
    image: imageRow(probe, sha1),
    imagePath: input,
    originalFilename,
    ...(probe.kind === 'xylist' ? { xy: { x: probe.x, y: probe.y } } : {}),
  };
}

function imageRow(p: Exclude<Probe, { kind: 'unsupported' }>, sha1: string): Omit<ImageRow, 'id' | 'createdAt'> {
  if (p.kind === 'image') return { sha1, kind: 'image', format: p.format, width: p.width, height: p.height };
  return { sha1, kind: 'xylist', format: p.source === 'fits' ? 'xyls' : 'text', width: p.width, height: p.height };
}

/**
 * Stores an image's bytes under its own id. Source lists also get a normalised FITS table
 * with `x`,`y` columns, which is what the solver is handed (as nova writes for x/y uploads).
 */
export async function storeImage(
  store: Dirs,
  imageId: number,
  from: string,
  kind: 'image' | 'xylist',
  xy?: { x: ArrayLike<number>; y: ArrayLike<number> },
): Promise<void> {
  const dir = store.imageDir(imageId);
  await mkdir(dir, { recursive: true });
  // Stored files are never modified in place, so a hard link is as good as a copy.
  await link(from, join(dir, FILES.image)).catch(() => copyFile(from, join(dir, FILES.image)));
  if (kind === 'xylist') {
    let rows = xy;
    if (!rows) {
      const p = await probeFile(from, Infinity);
      if (p.kind !== 'xylist') throw new Error('source list changed between probes');
      rows = p;
    }
    await writeFile(join(dir, FILES.xylist), xyTable(rows.x, rows.y));
  }
}

export function xyTable(x: ArrayLike<number>, y: ArrayLike<number>): Uint8Array {
  return writeXyTable(x, y);
}

export function solverInputOf(store: Dirs, image: ImageRow): string {
  return join(store.imageDir(image.id), image.kind === 'xylist' ? FILES.xylist : FILES.image);
}

async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(2);
    const { bytesRead } = await fh.read(b, 0, 2, 0);
    return bytesRead === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

async function gunzipTo(from: string, to: string, max: number): Promise<void> {
  let total = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      if (total > max) cb(new Error('decompressed data too large'));
      else cb(null, chunk);
    },
  });
  await pipeline(createReadStream(from), createGunzip(), limit, createWriteStream(to, { mode: 0o600 }));
}

export async function sha1File(path: string): Promise<string> {
  const h = createHash('sha1');
  await pipeline(createReadStream(path), async function* (src: AsyncIterable<Buffer>) {
    for await (const chunk of src) h.update(chunk);
  });
  return h.digest('hex');
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * nova's `error_message`: "Caught exception while processing Submission: ..." plus the
 * traceback, kept to its last 255 characters with a leading "..." (docs/nova-protocol.md#submission-status).
 */
export function novaErrorMessage(subId: number, exceptionLine: string): string {
  const full =
    `Caught exception while processing Submission: Submission ${subId}\n` +
    'Traceback (most recent call last):\n' +
    '  File "/src/astrometry/net/process_submissions.py", line 487, in try_dosub\n' +
    '    return dosub(sub)\n' +
    '  File "/src/astrometry/net/process_submissions.py", line 601, in dosub\n' +
    '    img = get_or_create_image(df)\n' +
    `${exceptionLine}\n`;
  return full.length > 255 ? '...' + full.slice(full.length - 252) : full;
}
