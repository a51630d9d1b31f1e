/**
 * Just enough FITS for the solve-field backend: read header cards, read numeric columns of a
 * binary table, and write a two-column x,y table (the shape nova writes for JSON x/y uploads).
 *
 * FITS is big-endian, made of 2880-byte blocks; a header is 80-character ASCII cards ending
 * with `END`.
 */

export const FITS_BLOCK = 2880;
const CARD = 80;

export type FitsValue = string | number | boolean;

export interface FitsHeader {
  /** Keyword (upper case) to value; the first occurrence wins. */
  cards: Map<string, FitsValue>;
  /** Byte offset of the header's first card. */
  start: number;
  /** Byte offset of the data that follows the header (block aligned). */
  dataStart: number;
}

export interface FitsHdu {
  header: FitsHeader;
  /** Bytes of data (without heap padding), from `header.dataStart`. */
  dataBytes: number;
}

function parseValue(raw: string): FitsValue | undefined {
  const text = raw.trimStart();
  if (text.startsWith("'")) {
    // A string: '' is an escaped quote; the closing quote ends it; trailing blanks are not significant.
    let out = '';
    for (let i = 1; i < text.length; i++) {
      const ch = text[i];
      if (ch === "'") {
        if (text[i + 1] === "'") {
          out += "'";
          i++;
          continue;
        }
        return out.trimEnd();
      }
      out += ch;
    }
    return out.trimEnd();
  }
  const slash = text.indexOf('/');
  const body = (slash >= 0 ? text.slice(0, slash) : text).trim();
  if (body === 'T') return true;
  if (body === 'F') return false;
  if (body === '') return undefined;
  const n = Number(body.replace(/[dD]/, 'e'));
  return Number.isFinite(n) ? n : body;
}

/** Parse the header that starts at `start` (block aligned). Throws on malformed input. */
export function readHeader(buf: Uint8Array, start = 0): FitsHeader {
  const cards = new Map<string, FitsValue>();
  const decoder = new TextDecoder('latin1');
  for (let pos = start; pos + CARD <= buf.length; pos += CARD) {
    const card = decoder.decode(buf.subarray(pos, pos + CARD));
    const key = card.slice(0, 8).trimEnd().toUpperCase();
    if (key === 'END') {
      const headerEnd = pos + CARD;
      const dataStart = Math.ceil((headerEnd - start) / FITS_BLOCK) * FITS_BLOCK + start;
      return { cards, start, dataStart };
    }
    if (card.slice(8, 10) === '= ' && !cards.has(key)) {
      const value = parseValue(card.slice(10));
      if (value !== undefined) cards.set(key, value);
    }
  }
  throw new Error('not a FITS file: no END card');
}

function num(h: FitsHeader, key: string, fallback?: number): number {
  const v = h.cards.get(key);
  if (typeof v === 'number') return v;
  if (fallback !== undefined) return fallback;
  throw new Error(`FITS header lacks numeric ${key}`);
}

function dataBytesOf(h: FitsHeader): number {
  const naxis = num(h, 'NAXIS', 0);
  if (naxis === 0) return 0;
  let n = 1;
  for (let i = 1; i <= naxis; i++) n *= num(h, `NAXIS${i}`);
  const bitpix = Math.abs(num(h, 'BITPIX'));
  return (bitpix / 8) * num(h, 'GCOUNT', 1) * (num(h, 'PCOUNT', 0) + n);
}

/** Every HDU of a FITS file, in order. */
export function readHdus(buf: Uint8Array): FitsHdu[] {
  const out: FitsHdu[] = [];
  let pos = 0;
  while (pos + FITS_BLOCK <= buf.length) {
    let header: FitsHeader;
    try {
      header = readHeader(buf, pos);
    } catch (err) {
      if (out.length > 0) break; // trailing bytes after the last HDU
      throw err;
    }
    const first = [...header.cards.keys()][0];
    if (out.length === 0 ? first !== 'SIMPLE' : first !== 'XTENSION') break;
    const dataBytes = dataBytesOf(header);
    out.push({ header, dataBytes });
    pos = header.dataStart + Math.ceil(dataBytes / FITS_BLOCK) * FITS_BLOCK;
  }
  if (out.length === 0) throw new Error('not a FITS file');
  return out;
}

/** True when the bytes start like a FITS file. */
export function looksLikeFits(head: Uint8Array): boolean {
  return new TextDecoder('latin1').decode(head.subarray(0, 9)) === 'SIMPLE  =';
}

interface ColumnLayout {
  name: string;
  offset: number;
  code: string;
  repeat: number;
}

const TYPE_BYTES: Record<string, number> = {
  L: 1, X: 1, B: 1, I: 2, J: 4, K: 8, A: 1, E: 4, D: 8, C: 8, M: 16, P: 8, Q: 16,
};

function columnLayouts(h: FitsHeader): ColumnLayout[] {
  const n = num(h, 'TFIELDS');
  const cols: ColumnLayout[] = [];
  let offset = 0;
  for (let i = 1; i <= n; i++) {
    const form = String(h.cards.get(`TFORM${i}`) ?? '').trim().toUpperCase();
    const m = /^(\d*)([LXBIJKAEDCMPQ])/.exec(form);
    if (!m) throw new Error(`unsupported TFORM${i} '${form}'`);
    const repeat = m[1] ? Number(m[1]) : 1;
    const code = m[2] as string;
    const width = code === 'X' ? Math.ceil(repeat / 8) : repeat * (TYPE_BYTES[code] ?? 0);
    cols.push({ name: String(h.cards.get(`TTYPE${i}`) ?? '').trim(), offset, code, repeat });
    offset += width;
  }
  return cols;
}

export interface BinTable {
  header: FitsHeader;
  rows: number;
  columnNames: string[];
  /** Reads a scalar numeric column (E, D, B, I, J, K); names match case-insensitively. */
  column(name: string): Float64Array;
}

/** The first binary-table extension of a FITS file, or undefined when it has none. */
export function readBinTable(buf: Uint8Array): BinTable | undefined {
  const hdu = readHdus(buf).find(
    (x) => String(x.header.cards.get('XTENSION') ?? '').trim().toUpperCase() === 'BINTABLE',
  );
  if (!hdu) return undefined;
  const h = hdu.header;
  const rowBytes = num(h, 'NAXIS1');
  const rows = num(h, 'NAXIS2');
  const layouts = columnLayouts(h);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (h.dataStart + rowBytes * rows > buf.length) throw new Error('truncated FITS table');
  return {
    header: h,
    rows,
    columnNames: layouts.map((c) => c.name),
    column(name: string): Float64Array {
      const idx = layouts.findIndex((c) => c.name.toUpperCase() === name.toUpperCase());
      const col = layouts[idx];
      if (!col) throw new Error(`no column ${name}`);
      if (col.repeat !== 1) throw new Error(`column ${name} is not a scalar`);
      const scale = num(h, `TSCAL${idx + 1}`, 1);
      const zero = num(h, `TZERO${idx + 1}`, 0);
      const out = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        const p = h.dataStart + r * rowBytes + col.offset;
        let v: number;
        switch (col.code) {
          case 'E': v = view.getFloat32(p, false); break;
          case 'D': v = view.getFloat64(p, false); break;
          case 'B': v = view.getUint8(p); break;
          case 'I': v = view.getInt16(p, false); break;
          case 'J': v = view.getInt32(p, false); break;
          case 'K': v = Number(view.getBigInt64(p, false)); break;
          default: throw new Error(`column ${name} has non-numeric type ${col.code}`);
        }
        out[r] = v * scale + zero;
      }
      return out;
    },
  };
}

function card(text: string): string {
  if (text.length > CARD) throw new Error(`FITS card too long: ${text}`);
  return text.padEnd(CARD, ' ');
}

function intCard(key: string, value: number): string {
  return card(`${key.padEnd(8, ' ')}= ${String(value).padStart(20, ' ')}`);
}

function strCard(key: string, value: string): string {
  return card(`${key.padEnd(8, ' ')}= '${value.replace(/'/g, "''").padEnd(8, ' ')}'`);
}

function headerBytes(cards: string[]): Buffer {
  const text = [...cards, card('END')].join('');
  const size = Math.ceil(text.length / FITS_BLOCK) * FITS_BLOCK;
  return Buffer.from(text.padEnd(size, ' '), 'latin1');
}

/**
 * A FITS file with an empty primary HDU and one binary table of float64 columns `x` and `y`
 * (1-based pixel positions), as nova builds for x/y uploads.
 */
export function writeXyTable(x: ArrayLike<number>, y: ArrayLike<number>): Buffer {
  if (x.length !== y.length) throw new Error('x and y must have the same length');
  const rows = x.length;
  const primary = headerBytes([
    card('SIMPLE  =                    T'),
    intCard('BITPIX', 8),
    intCard('NAXIS', 0),
    card('EXTEND  =                    T'),
  ]);
  const table = headerBytes([
    strCard('XTENSION', 'BINTABLE'),
    intCard('BITPIX', 8),
    intCard('NAXIS', 2),
    intCard('NAXIS1', 16),
    intCard('NAXIS2', rows),
    intCard('PCOUNT', 0),
    intCard('GCOUNT', 1),
    intCard('TFIELDS', 2),
    strCard('TTYPE1', 'x'),
    strCard('TFORM1', 'D'),
    strCard('TTYPE2', 'y'),
    strCard('TFORM2', 'D'),
  ]);
  const dataSize = Math.ceil((rows * 16) / FITS_BLOCK) * FITS_BLOCK;
  const data = Buffer.alloc(dataSize, 0);
  for (let i = 0; i < rows; i++) {
    const xi = x[i] as number;
    const yi = y[i] as number;
    if (!Number.isFinite(xi) || !Number.isFinite(yi)) throw new Error('x and y must be finite');
    data.writeDoubleBE(xi, i * 16);
    data.writeDoubleBE(yi, i * 16 + 8);
  }
  return Buffer.concat([primary, table, data]);
}
