/**
 * What an image declares about itself, read from its header without decoding it: the size a
 * PNG's IHDR, a JPEG's SOF, a GIF's screen descriptor, a PNM header or the image HDU of a FITS
 * file states. A gzip file is inflated as a stream, only as far as the header needs and never
 * past a cap, so a decompression bomb costs a few chunks. The FITS walk reads headers only and
 * steps over data, so it also serves the streamed source-list reader (source-list.ts).
 *
 * This is what the pixel budget is checked against before any solver or converter is started:
 * a 30-byte PNG may claim 20 000 × 20 000 pixels, and solve-field would believe it.
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
// One JPEG marker walk, the client's: decodeImage reads the same frame header before decoding.
import { jpegFrame, jpegFrameWalk, JPEG_MARKER_HEAD, type JpegFrame } from 'astrometry-net-client/extract';
import { BLOCK, CARD, dataSizeOf, isFits, parseHeader, type FitsHeader } from 'astrometry-net-client/fits';

export type DeclaredFormat = 'fits' | 'jpeg' | 'png' | 'gif' | 'pnm';

export interface DeclaredSize {
  format: DeclaredFormat;
  width: number;
  height: number;
}

/** The default pixel budget: 250 megapixels, larger than any camera's frame (the client's default too). */
export const DEFAULT_MAX_PIXELS = 250_000_000;

/** How far a gzip stream is inflated to find a header, at most. */
const INFLATE_CAP = 64 * 1024 * 1024;
/** How far into a file a header (a JPEG's SOF, a FITS extension) is looked for. */
const SCAN_CAP = 64 * 1024 * 1024;
/** Longest FITS header read (2880-byte blocks): 36 cards a block, 36 000 cards. */
const MAX_HEADER_BLOCKS = 1000;
const MAX_HDUS = 1000;

/**
 * Bytes at increasing offsets of a file (or of the data a gzip file inflates to). `read` may
 * answer short at the end (or at the cap); reads must not go backwards by more than the window.
 */
export interface ByteSource {
  read(offset: number, length: number): Promise<Buffer>;
  /** The file's size, when known without reading it all (not for gzip). */
  readonly size: number | undefined;
  close(): Promise<void>;
}

const WINDOW = 64 * 1024;

class FileSource implements ByteSource {
  private cache: Buffer = Buffer.alloc(0);
  private cacheStart = 0;
  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.size);
    if (offset >= end) return Buffer.alloc(0);
    if (offset >= this.cacheStart && end <= this.cacheStart + this.cache.length) {
      return this.cache.subarray(offset - this.cacheStart, end - this.cacheStart);
    }
    const want = Math.max(end - offset, WINDOW);
    const buf = Buffer.alloc(Math.min(want, this.size - offset));
    const { bytesRead } = await this.fh.read(buf, 0, buf.length, offset);
    this.cache = buf.subarray(0, bytesRead);
    this.cacheStart = offset;
    return this.cache.subarray(0, Math.min(end - offset, bytesRead));
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** A forward-only view of what a gzip file inflates to; data skipped over is dropped as it comes. */
class GunzipSource implements ByteSource {
  readonly size = undefined;
  private readonly stream: ReturnType<typeof createReadStream>;
  private readonly gunzip = createGunzip();
  private readonly chunks: AsyncIterator<Buffer>;
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  private inflated = 0;
  private ended = false;

  constructor(
    path: string,
    private readonly cap: number,
  ) {
    this.stream = createReadStream(path);
    this.stream.on('error', (err) => this.gunzip.destroy(err));
    this.stream.pipe(this.gunzip);
    this.chunks = this.gunzip[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < this.bufStart) throw new RangeError('a gzip stream cannot be read backwards');
    this.drop(offset);
    while (!this.ended && this.bufStart + this.buf.length < offset + length) {
      if (this.inflated >= this.cap) {
        this.ended = true;
        break;
      }
      let next: IteratorResult<Buffer>;
      try {
        next = await this.chunks.next();
      } catch {
        next = { done: true, value: undefined };
      }
      if (next.done) {
        this.ended = true;
        break;
      }
      this.inflated += next.value.length;
      this.buf = this.buf.length === 0 ? next.value : Buffer.concat([this.buf, next.value]);
      this.drop(offset);
    }
    const from = offset - this.bufStart;
    return from >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(from, from + length);
  }

  /** Forgets everything before `offset` (kept: what a read at `offset` needs). */
  private drop(offset: number): void {
    const n = Math.min(offset - this.bufStart, this.buf.length);
    if (n <= 0) return;
    this.buf = this.buf.subarray(n);
    this.bufStart += n;
  }

  async close(): Promise<void> {
    this.stream.destroy();
    this.gunzip.destroy();
  }
}

/** Opens a file for header reading: gzip (magic 1f 8b) is inflated as a stream, up to `inflateCap` bytes. */
export async function openByteSource(path: string, inflateCap = INFLATE_CAP): Promise<ByteSource> {
  const fh = await open(path, 'r');
  let size: number;
  let gzip = false;
  try {
    size = (await fh.stat()).size;
    const magic = Buffer.alloc(2);
    const { bytesRead } = await fh.read(magic, 0, 2, 0);
    gzip = bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } catch (err) {
    await fh.close();
    throw err;
  }
  if (!gzip) return new FileSource(fh, size);
  await fh.close();
  return new GunzipSource(path, inflateCap);
}

/** The size an image file's header declares (gzip inflated as a capped stream), or null when it is no image we can size. */
export async function declaredImageSize(path: string): Promise<DeclaredSize | null> {
  const src = await openByteSource(path);
  try {
    return await declaredSizeOf(src);
  } finally {
    await src.close();
  }
}

export async function declaredSizeOf(src: ByteSource): Promise<DeclaredSize | null> {
  const head = await src.read(0, 1024);
  if (isFits(head)) {
    for await (const hdu of fitsHeaders(src)) {
      const h = hdu.header;
      const x = h.get('XTENSION');
      // The first HDU holding an image of at least two axes (the client's findImageHdu).
      if ((x === undefined || x === 'IMAGE') && h.number('NAXIS', 0) >= 2 && h.number('NAXIS1', 0) > 0 && h.number('NAXIS2', 0) > 0) {
        return { format: 'fits', width: h.number('NAXIS1'), height: h.number('NAXIS2') };
      }
    }
    return null;
  }
  if (head.length >= 4 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return jpegSof(src);
  return headSize(head) ?? null;
}

/**
 * The size a PNG, GIF or PNM declares in its first bytes; `null` for such a header that
 * declares none, `undefined` for another format (FITS and JPEG are walked further in).
 */
export function headSize(head: Buffer): DeclaredSize | null | undefined {
  if (head.length >= 24 && head.readUInt32BE(0) === 0x89504e47 && head.readUInt32BE(4) === 0x0d0a1a0a) {
    const w = head.readUInt32BE(16);
    const h = head.readUInt32BE(20);
    return w > 0 && h > 0 ? { format: 'png', width: w, height: h } : null;
  }
  if (head.length >= 10 && /^GIF8[79]a/.test(head.subarray(0, 6).toString('latin1'))) {
    const w = head.readUInt16LE(6);
    const h = head.readUInt16LE(8);
    return w > 0 && h > 0 ? { format: 'gif', width: w, height: h } : null;
  }
  if (head.length >= 3 && head[0] === 0x50 && head[1] !== undefined && head[1] >= 0x31 && head[1] <= 0x36) return pnmHeaderSize(head);
  return undefined;
}

/** Walks a JPEG's markers up to its first SOF (frame header), reading only the marker heads, at most SCAN_CAP bytes in. */
async function jpegSof(src: ByteSource): Promise<DeclaredSize | null> {
  const walk = jpegFrameWalk(SCAN_CAP);
  let step = walk.next();
  while (!step.done) step = walk.next(await src.read(step.value, JPEG_MARKER_HEAD));
  return jpegSize(step.value);
}

/** The size of a JPEG held in memory (a file's head), from its frame header. */
export function jpegHeadSize(head: Buffer): DeclaredSize | null {
  return jpegSize(jpegFrame(head));
}

/** A frame header's size, or null when there is none or it declares no pixels. */
function jpegSize(frame: JpegFrame | null): DeclaredSize | null {
  return frame && frame.width > 0 && frame.height > 0 ? { format: 'jpeg', width: frame.width, height: frame.height } : null;
}

function pnmHeaderSize(buf: Buffer): DeclaredSize | null {
  const text = buf.subarray(0, 1024).toString('latin1');
  if (!/^\s/.test(text.slice(2, 3))) return null;
  const tokens: string[] = [];
  const re = /#[^\n]*|(\S+)/g;
  let m: RegExpExecArray | null;
  re.lastIndex = 2;
  while (tokens.length < 2 && (m = re.exec(text))) if (m[1] !== undefined) tokens.push(m[1]);
  const [w, h] = tokens.map(Number);
  if (w === undefined || h === undefined || !Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0) return null;
  return { format: 'pnm', width: w, height: h };
}

export interface FitsHeaderAt {
  header: FitsHeader;
  /** Index of the HDU (0: primary). */
  index: number;
  dataStart: number;
  /** Data bytes, without padding. */
  dataSize: number;
}

/**
 * The headers of a FITS file, read block by block and stepping over the data (never read), as
 * the client's readHdus walks them: the primary must have SIMPLE = T; the walk stops quietly at
 * anything after it that is not an extension, at a truncated header, or after SCAN_CAP bytes of
 * a gzip stream.
 */
export async function* fitsHeaders(src: ByteSource): AsyncGenerator<FitsHeaderAt> {
  let offset = 0;
  for (let index = 0; index < MAX_HDUS; index++) {
    const blocks: Buffer[] = [];
    let complete = false;
    for (let b = 0; b < MAX_HEADER_BLOCKS && !complete; b++) {
      const block = await src.read(offset + b * BLOCK, BLOCK);
      if (block.length < BLOCK) return;
      blocks.push(Buffer.from(block));
      complete = hasEndCard(block);
    }
    if (!complete) return;
    const bytes = Buffer.concat(blocks);
    let header: FitsHeader;
    let dataSize: number;
    try {
      header = parseHeader(bytes, 0).header;
      if (index === 0 ? header.get('SIMPLE') !== true : typeof header.get('XTENSION') !== 'string') return;
      dataSize = dataSizeOf(header);
    } catch {
      return;
    }
    const dataStart = offset + bytes.length;
    yield { header, index, dataStart, dataSize };
    offset = dataStart + Math.ceil(dataSize / BLOCK) * BLOCK;
  }
}

function hasEndCard(block: Buffer): boolean {
  for (let p = 0; p + CARD <= block.length; p += CARD) {
    if (block.toString('latin1', p, p + 8) === 'END     ') return true;
  }
  return false;
}

/** The pixel budget, in words people read: null when the image fits. */
export function pixelBudgetExceeded(size: { width: number; height: number }, maxPixels: number): string | null {
  const pixels = size.width * size.height;
  if (pixels <= maxPixels) return null;
  return (
    `the image declares ${size.width} × ${size.height} pixels (${megapixels(pixels)} megapixels), ` +
    `more than this server's limit of ${megapixels(maxPixels)} megapixels (--max-pixels ${maxPixels}); it was not solved`
  );
}

function megapixels(n: number): string {
  const m = n / 1e6;
  return m >= 10 ? String(Math.round(m)) : String(Number(m.toPrecision(2)));
}
