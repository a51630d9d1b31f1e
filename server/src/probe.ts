/**
 * Content sniffing for uploads, by magic bytes and never by name, in nova's order
 * (docs/nova-protocol.md#content-detection): first "is it an image" (FITS image, JPEG, PNG, GIF, PNM), then
 * "is it a source list" (FITS binary table with x,y columns, or text `x y` lines), the latter
 * read as a stream within a row budget (source-list.ts).
 */
import { open, stat } from 'node:fs/promises';
import { findImageHdu, isFits, readHdus, readXyColumns } from 'astrometry-net-client/fits';
import { headSize, jpegHeadSize, openByteSource } from './declared-size.js';
import { DEFAULT_MAX_SOURCE_ROWS, parseLine, readFitsList, readTextList, tooManyRowsError, type ListRead } from './source-list.js';

export type ImageFormat = 'fits' | 'jpeg' | 'png' | 'gif' | 'pnm';

export type Probe =
  | { kind: 'image'; format: ImageFormat; width: number; height: number }
  | { kind: 'xylist'; source: 'fits' | 'text'; x: ArrayLike<number>; y: ArrayLike<number>; width: number; height: number }
  /** `error` is the Python exception line nova's worker would end its traceback with. */
  | { kind: 'unsupported'; error: string };

export const UNSUPPORTED = "Exception: This file's type is not supported.";

const HEAD_BYTES = 4 * 1024 * 1024;

/**
 * Sniffs a file. An image is known by its head; a source list (a FITS table, or text) is read
 * as a stream within `maxRows` rows, so neither a large list nor a large file is ever held whole.
 */
export async function probeFile(path: string, maxRows = DEFAULT_MAX_SOURCE_ROWS): Promise<Probe> {
  const size = (await stat(path)).size;
  const head = Buffer.alloc(Math.min(size, HEAD_BYTES));
  const fh = await open(path, 'r');
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  const img = imageSize(head);
  if (img) return { kind: 'image', ...img };
  if (isFits(head)) {
    const src = await openByteSource(path);
    try {
      return listProbe(await readFitsList(src, maxRows), 'fits', maxRows);
    } finally {
      await src.close();
    }
  }
  if (looksLikeText(head)) return listProbe(await readTextList(path, maxRows), 'text', maxRows);
  return { kind: 'unsupported', error: UNSUPPORTED };
}

function listProbe(r: ListRead, source: 'fits' | 'text', maxRows: number): Probe {
  if (r.ok) return sourceListProbe(r.x, r.y, source);
  if (r.reason === 'too-many-rows') return { kind: 'unsupported', error: tooManyRowsError(maxRows, r.rows) };
  return { kind: 'unsupported', error: UNSUPPORTED };
}

/** probeFile for bytes in memory (`truncated`: only the head of a longer file). */
export function probeBuffer(buf: Buffer, truncated = false, maxRows = DEFAULT_MAX_SOURCE_ROWS): Probe {
  const img = imageSize(buf);
  if (img) return { kind: 'image', ...img };
  let xy: { x: ArrayLike<number>; y: ArrayLike<number>; source: 'fits' | 'text' } | null = null;
  if (isFits(buf)) {
    try {
      const t = readXyColumns(buf);
      if (t) xy = { ...t, source: 'fits' };
    } catch {
      xy = null;
    }
  } else if (!truncated) {
    const t = parseTextList(buf);
    if (t) xy = { ...t, source: 'text' };
  }
  if (!xy) return { kind: 'unsupported', error: UNSUPPORTED };
  if (xy.x.length > maxRows) return { kind: 'unsupported', error: tooManyRowsError(maxRows, xy.x.length) };
  return sourceListProbe(xy.x, xy.y, xy.source);
}

/** nova's `create_source_list` size rule and its two failure modes. */
export function sourceListProbe(x: ArrayLike<number>, y: ArrayLike<number>, source: 'fits' | 'text'): Probe {
  if (x.length === 0 || y.length === 0) {
    return { kind: 'unsupported', error: 'ValueError: zero-size array to reduction operation maximum which has no identity' };
  }
  const w = Math.ceil(maxOf(x));
  const h = Math.ceil(maxOf(y));
  if (!(w >= 1) || !(h >= 1)) {
    return { kind: 'unsupported', error: 'RuntimeError: Source list must contain POSITIVE x,y coordinates' };
  }
  return { kind: 'xylist', source, x, y, width: w, height: h };
}

function maxOf(v: ArrayLike<number>): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < v.length; i++) {
    const n = v[i] as number;
    if (Number.isNaN(n)) return Number.NaN; // numpy's max propagates NaN
    if (n > m) m = n;
  }
  return m;
}

export function imageSize(buf: Buffer): { format: ImageFormat; width: number; height: number } | null {
  if (isFits(buf)) {
    try {
      const hdu = findImageHdu(readHdus(buf.subarray(0, Math.min(buf.length, 2880 * 40)), 1));
      return hdu ? { format: 'fits', width: hdu.header.number('NAXIS1'), height: hdu.header.number('NAXIS2') } : null;
    } catch {
      return null;
    }
  }
  if (buf.length >= 4 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return jpegHeadSize(buf);
  const declared = headSize(buf);
  if (declared !== undefined) return declared;
  return null;
}

function looksLikeText(buf: Buffer): boolean {
  return !buf.subarray(0, 8192).includes(0);
}

/** Whitespace-separated `x y` lines; `#` comments and blank lines skipped. */
export function parseTextList(buf: Buffer): { x: number[]; y: number[] } | null {
  if (!looksLikeText(buf)) return null;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    return null;
  }
  const x: number[] = [];
  const y: number[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const r = parseLine(raw);
    if (r === false) return null;
    if (r === null) continue;
    x.push(r[0]);
    y.push(r[1]);
  }
  return x.length > 0 ? { x, y } : null;
}
