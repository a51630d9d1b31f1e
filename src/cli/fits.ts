/**
 * Just enough FITS for the command line: raw header cards, HDU walking, a binary table's x/y
 * columns (source lists), and merging a solved WCS into an image's primary header.
 *
 * FITS is 2880-byte blocks; a header is 80-character ASCII cards up to `END`, padded with
 * spaces to a block; data follows, padded to a block. Merging rewrites the header only and
 * copies the data bytes as they are.
 */
import { gunzipSync } from 'node:zlib';

export const BLOCK = 2880;
export const CARD = 80;

export interface RawCard {
  /** The keyword, upper case, trimmed ('' for a blank card). */
  keyword: string;
  /** The full 80-character card image. */
  image: string;
}

export interface Hdu {
  cards: RawCard[];
  /** Byte offset of the header. */
  headerStart: number;
  /** Byte offset of the data (header end, padded to a block). */
  dataStart: number;
  /** Data size in bytes, without padding. */
  dataSize: number;
  /** Offset of the next HDU. */
  end: number;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export function isFits(bytes: Uint8Array): boolean {
  return bytes.length >= BLOCK && ascii(bytes, 0, 9) === 'SIMPLE  =';
}

/** Decompresses gzip, else returns the bytes as they are. */
export function maybeGunzip(bytes: Uint8Array): Uint8Array {
  return isGzip(bytes) ? new Uint8Array(gunzipSync(bytes)) : bytes;
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end && i < bytes.length; i++) s += String.fromCharCode(bytes[i] as number);
  return s;
}

/** Reads the header at `offset`; throws if there is no END within the file. */
export function readHeader(bytes: Uint8Array, offset = 0): { cards: RawCard[]; dataStart: number } {
  const cards: RawCard[] = [];
  for (let pos = offset; pos + CARD <= bytes.length; pos += CARD) {
    const image = ascii(bytes, pos, pos + CARD);
    const keyword = image.slice(0, 8).trim().toUpperCase();
    if (keyword === 'END') {
      const headerBytes = pos + CARD - offset;
      return { cards, dataStart: offset + Math.ceil(headerBytes / BLOCK) * BLOCK };
    }
    cards.push({ keyword, image });
  }
  throw new Error('Not a FITS file: no END card in the header.');
}

/** A card's value: number, boolean, string, or the raw text. */
export function cardValue(card: RawCard): string | number | boolean | undefined {
  if (card.image.slice(8, 10) !== '= ') return undefined;
  const field = card.image.slice(10).trim();
  if (field.startsWith("'")) {
    const m = /^'((?:[^']|'')*)'/.exec(field);
    return m ? (m[1] as string).replace(/''/g, "'").trimEnd() : field;
  }
  const raw = (field.includes('/') ? field.slice(0, field.indexOf('/')) : field).trim();
  if (raw === 'T') return true;
  if (raw === 'F') return false;
  const n = Number(raw.replace(/D/i, 'E'));
  return raw !== '' && Number.isFinite(n) ? n : raw;
}

export function valueOf(cards: readonly RawCard[], keyword: string): string | number | boolean | undefined {
  const card = cards.find((c) => c.keyword === keyword);
  return card ? cardValue(card) : undefined;
}

function num(cards: readonly RawCard[], keyword: string, fallback?: number): number {
  const v = valueOf(cards, keyword);
  if (typeof v === 'number') return v;
  if (fallback !== undefined) return fallback;
  throw new Error(`FITS header has no numeric ${keyword}.`);
}

/** Every HDU of a FITS file. */
export function readHdus(bytes: Uint8Array): Hdu[] {
  const hdus: Hdu[] = [];
  let offset = 0;
  while (offset + BLOCK <= bytes.length) {
    const { cards, dataStart } = readHeader(bytes, offset);
    const naxis = num(cards, 'NAXIS', 0);
    let elements = naxis > 0 ? 1 : 0;
    for (let i = 1; i <= naxis; i++) elements *= num(cards, `NAXIS${i}`, 0);
    const bitpix = Math.abs(num(cards, 'BITPIX', 8));
    const pcount = num(cards, 'PCOUNT', 0);
    const gcount = num(cards, 'GCOUNT', 1);
    const dataSize = naxis > 0 ? (bitpix / 8) * gcount * (pcount + elements) : 0;
    const end = dataStart + Math.ceil(dataSize / BLOCK) * BLOCK;
    hdus.push({ cards, headerStart: offset, dataStart, dataSize, end });
    offset = end;
  }
  return hdus;
}

const TFORM_SIZES: Record<string, number> = { L: 1, X: 1, B: 1, I: 2, J: 4, K: 8, A: 1, E: 4, D: 8, C: 8, M: 16, P: 8, Q: 16 };

/** The `x` and `y` columns of the first binary table that has them (case-insensitive names). */
export function readXyColumns(bytes: Uint8Array): { x: number[]; y: number[] } | undefined {
  const data = maybeGunzip(bytes);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (const hdu of readHdus(data).slice(1)) {
    if (valueOf(hdu.cards, 'XTENSION') !== 'BINTABLE') continue;
    const fields = num(hdu.cards, 'TFIELDS', 0);
    const rowBytes = num(hdu.cards, 'NAXIS1');
    const rows = num(hdu.cards, 'NAXIS2');
    const columns = new Map<string, { offset: number; type: string; scale: number; zero: number }>();
    let offset = 0;
    for (let i = 1; i <= fields; i++) {
      const form = String(valueOf(hdu.cards, `TFORM${i}`) ?? '').trim().toUpperCase();
      const m = /^(\d*)([LXBIJKAEDCMPQ])/.exec(form);
      if (!m) throw new Error(`Unsupported TFORM${i} "${form}" in the source list.`);
      const repeat = m[1] === '' ? 1 : Number(m[1]);
      const type = m[2] as string;
      const size = type === 'X' ? Math.ceil(repeat / 8) : repeat * (TFORM_SIZES[type] as number);
      const name = String(valueOf(hdu.cards, `TTYPE${i}`) ?? '').trim().toLowerCase();
      if (name && !columns.has(name)) {
        columns.set(name, {
          offset,
          type,
          scale: num(hdu.cards, `TSCAL${i}`, 1),
          zero: num(hdu.cards, `TZERO${i}`, 0),
        });
      }
      offset += size;
    }
    const xc = columns.get('x');
    const yc = columns.get('y');
    if (!xc || !yc) continue;
    const read = (c: { offset: number; type: string; scale: number; zero: number }, row: number): number => {
      const p = hdu.dataStart + row * rowBytes + c.offset;
      let v: number;
      switch (c.type) {
        case 'B':
          v = view.getUint8(p);
          break;
        case 'I':
          v = view.getInt16(p, false);
          break;
        case 'J':
          v = view.getInt32(p, false);
          break;
        case 'K':
          v = Number(view.getBigInt64(p, false));
          break;
        case 'E':
          v = view.getFloat32(p, false);
          break;
        case 'D':
          v = view.getFloat64(p, false);
          break;
        default:
          throw new Error(`Column of type ${c.type} cannot hold positions.`);
      }
      return v * c.scale + c.zero;
    };
    const x: number[] = [];
    const y: number[] = [];
    for (let r = 0; r < rows; r++) {
      x.push(read(xc, r));
      y.push(read(yc, r));
    }
    return { x, y };
  }
  return undefined;
}

/** Keywords of a solved WCS that replace the image's own (as the Python seed's CLI merges them). */
export function isWcsKeyword(keyword: string): boolean {
  return (
    /^(CTYPE|CRVAL|CRPIX|CUNIT)\d$/.test(keyword) ||
    /^CD\d_\d$/.test(keyword) ||
    /^(A|B|AP|BP)_ORDER$/.test(keyword) ||
    /^(A|B|AP|BP)_\d+_\d+$/.test(keyword) ||
    /^(A|B|AP|BP)_DMAX$/.test(keyword) ||
    ['EQUINOX', 'LONPOLE', 'LATPOLE', 'IMAGEW', 'IMAGEH', 'WCSAXES', 'RADESYS'].includes(keyword)
  );
}

/** Older WCS conventions that must not stay next to a CD matrix (PC and CD are exclusive). */
function isConflictingWcsKeyword(keyword: string): boolean {
  return /^PC\d_\d$/.test(keyword) || /^PC0\d{2}0\d{2}$/.test(keyword) || /^(CDELT|CROTA)\d$/.test(keyword);
}

/** The WCS cards of a solved job's wcs file, as their 80-character images. */
export function wcsCards(wcsFile: Uint8Array): RawCard[] {
  const { cards } = readHeader(maybeGunzip(wcsFile));
  return cards.filter((c) => isWcsKeyword(c.keyword));
}

/**
 * A copy of `image` (a FITS file) whose primary header carries the solved WCS: every WCS card
 * of `wcsFile` replaces the image's card of that keyword, or is added before END; the data and
 * every later HDU are copied byte for byte.
 */
export function mergeWcsIntoFits(image: Uint8Array, wcsFile: Uint8Array, note?: string): Uint8Array {
  const source = maybeGunzip(image);
  if (!isFits(source)) throw new Error('The input is not a FITS file.');
  const { cards, dataStart } = readHeader(source, 0);
  const solved = wcsCards(wcsFile);
  if (solved.length === 0) throw new Error('The wcs file has no WCS cards.');
  const replacing = new Set(solved.map((c) => c.keyword));
  const hasCd = solved.some((c) => /^CD\d_\d$/.test(c.keyword));
  const kept = cards.filter(
    (c) => !replacing.has(c.keyword) && !(hasCd && isConflictingWcsKeyword(c.keyword)),
  );
  const extra: string[] = [];
  if (note) extra.push(`COMMENT ${note}`.slice(0, CARD).padEnd(CARD));
  const images = [...kept.map((c) => c.image), ...extra, ...solved.map((c) => c.image), 'END'.padEnd(CARD)];
  const headerLength = Math.ceil((images.length * CARD) / BLOCK) * BLOCK;
  const out = new Uint8Array(headerLength + (source.length - dataStart));
  const text = images.join('').padEnd(headerLength, ' ');
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0x7f;
  out.set(source.subarray(dataStart), headerLength);
  return out;
}
