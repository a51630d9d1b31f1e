/**
 * One FITS header of a file on disk, read block by block up to its END card and parsed by the
 * client's FITS reader. `indexes install` checks index files with it (validate.ts) and serve's
 * coverage scan reads their scales with it (index-coverage.ts), so a file one accepts is never
 * one the other cannot read.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { BLOCK, FitsError, parseHeader, type FitsHeader } from 'astrometry-net-client/fits';

/** More header blocks than this in one HDU: not an index file (theirs have one or two). */
export const MAX_HEADER_BLOCKS = 64;

export interface HeaderAt {
  header: FitsHeader;
  /** Bytes the header takes, padding included: its data starts this far after it. */
  bytes: number;
}

/** The header starting at byte `at` of a file of `size` bytes, or why there is none. */
export async function readHeaderAt(fh: FileHandle, at: number, size: number): Promise<HeaderAt | string> {
  const blocks: Buffer[] = [];
  for (let block = 0; block < MAX_HEADER_BLOCKS; block++) {
    const offset = at + block * BLOCK;
    if (offset + BLOCK > size) return `a header at byte ${at} runs past the end of the file`;
    const buf = Buffer.alloc(BLOCK);
    const { bytesRead } = await fh.read(buf, 0, BLOCK, offset);
    if (bytesRead < BLOCK) return `a header at byte ${at} runs past the end of the file`;
    blocks.push(buf);
    try {
      const { header, dataStart } = parseHeader(Buffer.concat(blocks), 0);
      return { header, bytes: dataStart };
    } catch (err) {
      // No END card yet: read the next block.
      if (!(err instanceof FitsError)) throw err;
    }
  }
  return `no END card within ${MAX_HEADER_BLOCKS} header blocks at byte ${at}`;
}

/** Whether the file starts as FITS does (a SIMPLE card first). */
export async function startsAsFits(fh: FileHandle): Promise<boolean> {
  const head = Buffer.alloc(9);
  const { bytesRead } = await fh.read(head, 0, 9, 0);
  return bytesRead === 9 && head.toString('latin1') === 'SIMPLE  =';
}

/** The primary header of a FITS file; null when the file is no FITS or its header cannot be read. */
export async function readPrimaryHeader(file: string): Promise<FitsHeader | null> {
  const fh = await open(file, 'r');
  try {
    if (!(await startsAsFits(fh))) return null;
    const h = await readHeaderAt(fh, 0, (await fh.stat()).size);
    return typeof h === 'string' ? null : h.header;
  } finally {
    await fh.close();
  }
}

/** An integer card's value, or undefined when the card is absent or holds something else. */
export function intCard(h: FitsHeader, key: string): number | undefined {
  const v = h.get(key);
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

/** A numeric card's value, or undefined when the card is absent or holds something else. */
export function numberCard(h: FitsHeader, key: string): number | undefined {
  const v = h.get(key);
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
