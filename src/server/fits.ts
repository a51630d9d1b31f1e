/**
 * Minimal FITS reading and writing: enough to recognise uploads (image vs. x,y table) and to
 * produce small valid result files (WCS header, rdls/axy/corr tables, x/y lists).
 * FITS is 2880-byte blocks of 80-character ASCII cards, data big-endian.
 */

export const BLOCK = 2880;

export type CardValue = string | number | boolean | { int: number };

export interface Card {
  key: string;
  value?: CardValue;
  comment?: string;
}

function formatValue(v: CardValue): string {
  if (typeof v === 'boolean') return (v ? 'T' : 'F').padStart(20);
  if (typeof v === 'string') {
    const inner = v.replace(/'/g, "''").padEnd(8);
    return `'${inner}'`.padEnd(20);
  }
  if (typeof v === 'object') return String(Math.trunc(v.int)).padStart(20);
  return formatReal(v).padStart(20);
}

/** A real in at most 20 characters, always with a decimal point (FITS fixed format). */
export function formatReal(x: number): string {
  if (!Number.isFinite(x)) throw new Error('FITS cannot hold a non-finite header value');
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return x.toFixed(1);
  let s = x.toPrecision(14);
  let exp = '';
  const e = s.search(/e/i);
  if (e >= 0) {
    exp = 'E' + s.slice(e + 1);
    s = s.slice(0, e);
  }
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '.0');
  else s += '.0';
  return s + exp;
}

export function headerBlock(cards: Card[]): Buffer {
  const lines: string[] = [];
  for (const c of cards) {
    const key = c.key.toUpperCase().padEnd(8).slice(0, 8);
    let line: string;
    if (c.value === undefined) line = key + (c.comment ? `  ${c.comment}` : '');
    else {
      line = `${key}= ${formatValue(c.value)}`;
      if (c.comment) line += ` / ${c.comment}`;
    }
    lines.push(line.slice(0, 80).padEnd(80));
  }
  lines.push('END'.padEnd(80));
  const text = lines.join('');
  const size = Math.ceil(text.length / BLOCK) * BLOCK;
  return Buffer.from(text.padEnd(size), 'ascii');
}

function padData(data: Buffer): Buffer {
  const size = Math.ceil(data.length / BLOCK) * BLOCK;
  if (size === data.length) return data;
  return Buffer.concat([data, Buffer.alloc(size - data.length)]);
}

/** A primary HDU without data, carrying the given cards (e.g. a WCS header). */
export function emptyPrimary(extra: Card[] = [], extend = true): Buffer {
  return headerBlock([
    { key: 'SIMPLE', value: true, comment: 'file does conform to FITS standard' },
    { key: 'BITPIX', value: { int: 8 } },
    { key: 'NAXIS', value: { int: 0 } },
    ...(extend ? [{ key: 'EXTEND', value: true }] : []),
    ...extra,
  ]);
}

export type ColumnType = 'D' | 'E' | 'J' | 'I' | 'K' | 'B';
const WIDTH: Record<ColumnType, number> = { D: 8, E: 4, J: 4, I: 2, K: 8, B: 1 };

export interface Column {
  name: string;
  type: ColumnType;
  values: ArrayLike<number>;
}

/** A BINTABLE extension HDU with scalar columns. */
export function binTable(columns: Column[], extra: Card[] = []): Buffer {
  const nrows = columns[0]?.values.length ?? 0;
  const rowBytes = columns.reduce((n, c) => n + WIDTH[c.type], 0);
  const cards: Card[] = [
    { key: 'XTENSION', value: 'BINTABLE' },
    { key: 'BITPIX', value: { int: 8 } },
    { key: 'NAXIS', value: { int: 2 } },
    { key: 'NAXIS1', value: { int: rowBytes } },
    { key: 'NAXIS2', value: { int: nrows } },
    { key: 'PCOUNT', value: { int: 0 } },
    { key: 'GCOUNT', value: { int: 1 } },
    { key: 'TFIELDS', value: { int: columns.length } },
  ];
  columns.forEach((c, i) => {
    cards.push({ key: `TTYPE${i + 1}`, value: c.name }, { key: `TFORM${i + 1}`, value: `1${c.type}` });
  });
  cards.push(...extra);
  const data = Buffer.alloc(rowBytes * nrows);
  let off = 0;
  for (let r = 0; r < nrows; r++) {
    for (const c of columns) {
      const v = Number(c.values[r] ?? 0);
      switch (c.type) {
        case 'D':
          data.writeDoubleBE(v, off);
          break;
        case 'E':
          data.writeFloatBE(v, off);
          break;
        case 'J':
          data.writeInt32BE(Math.trunc(v), off);
          break;
        case 'I':
          data.writeInt16BE(Math.trunc(v), off);
          break;
        case 'K':
          data.writeBigInt64BE(BigInt(Math.trunc(v)), off);
          break;
        case 'B':
          data.writeUInt8(Math.trunc(v) & 0xff, off);
          break;
      }
      off += WIDTH[c.type];
    }
  }
  return Buffer.concat([headerBlock(cards), padData(data)]);
}

/** A file with an empty primary HDU and one table, the shape astrometry.net writes. */
export function tableFile(columns: Column[], extra: Card[] = []): Buffer {
  return Buffer.concat([emptyPrimary(), binTable(columns, extra)]);
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface Hdu {
  cards: Map<string, string | number | boolean>;
  /** Offset of the data in the file, and its unpadded length. */
  dataOffset: number;
  dataBytes: number;
}

export function isFits(buf: Buffer): boolean {
  return buf.length >= BLOCK && /^SIMPLE  = +T/.test(buf.subarray(0, 80).toString('latin1'));
}

function parseCardValue(raw: string): string | number | boolean | undefined {
  const s = raw.trim();
  if (s.startsWith("'")) {
    const m = /^'((?:[^']|'')*)'/.exec(s);
    return m ? (m[1] ?? '').replace(/''/g, "'").trimEnd() : undefined;
  }
  const v = s.split('/')[0]?.trim() ?? '';
  if (v === 'T') return true;
  if (v === 'F') return false;
  const n = Number(v.replace(/D/i, 'E'));
  return v !== '' && Number.isFinite(n) ? n : undefined;
}

/** Walks the HDUs of a FITS file held in memory; throws on anything malformed. */
export function readHdus(buf: Buffer, maxHdus = 20): Hdu[] {
  const out: Hdu[] = [];
  let off = 0;
  while (off < buf.length && out.length < maxHdus) {
    const cards = new Map<string, string | number | boolean>();
    let ended = false;
    let p = off;
    while (!ended) {
      if (p + BLOCK > buf.length) throw new Error('truncated FITS header');
      const block = buf.subarray(p, p + BLOCK).toString('latin1');
      p += BLOCK;
      for (let i = 0; i < BLOCK; i += 80) {
        const card = block.slice(i, i + 80);
        const key = card.slice(0, 8).trim();
        if (key === 'END') {
          ended = true;
          break;
        }
        if (card.slice(8, 10) === '= ' && key !== '') {
          const v = parseCardValue(card.slice(10));
          if (v !== undefined && !cards.has(key)) cards.set(key, v);
        }
      }
    }
    if (out.length === 0 && cards.get('SIMPLE') !== true) throw new Error('not a FITS file');
    if (out.length > 0 && typeof cards.get('XTENSION') !== 'string') throw new Error('bad FITS extension');
    const bitpix = Number(cards.get('BITPIX'));
    const naxis = Number(cards.get('NAXIS'));
    if (![8, 16, 32, 64, -32, -64].includes(bitpix) || !Number.isInteger(naxis) || naxis < 0 || naxis > 999) {
      throw new Error('bad FITS BITPIX/NAXIS');
    }
    let n = naxis > 0 ? 1 : 0;
    for (let i = 1; i <= naxis; i++) {
      const len = Number(cards.get(`NAXIS${i}`));
      if (!Number.isInteger(len) || len < 0) throw new Error('bad FITS NAXISn');
      n *= len;
    }
    const pcount = Number(cards.get('PCOUNT') ?? 0);
    const gcount = Number(cards.get('GCOUNT') ?? 1);
    const dataBytes = (Math.abs(bitpix) / 8) * gcount * (pcount + n);
    out.push({ cards, dataOffset: p, dataBytes });
    off = p + Math.ceil(dataBytes / BLOCK) * BLOCK;
  }
  return out;
}

export interface ImageInfo {
  width: number;
  height: number;
}

/** The primary image size, or null when the primary HDU holds no 2-D image. */
export function fitsImageSize(hdus: Hdu[]): ImageInfo | null {
  const p = hdus[0];
  if (!p) return null;
  const naxis = Number(p.cards.get('NAXIS'));
  const w = Number(p.cards.get('NAXIS1'));
  const h = Number(p.cards.get('NAXIS2'));
  if (naxis >= 2 && w > 0 && h > 0) return { width: w, height: h };
  return null;
}

/** Reads the `x` and `y` columns (any case) of the first binary table that has both. */
export function readXyTable(buf: Buffer, hdus: Hdu[]): { x: number[]; y: number[] } | null {
  for (const hdu of hdus.slice(1)) {
    if (hdu.cards.get('XTENSION') !== 'BINTABLE') continue;
    const tfields = Number(hdu.cards.get('TFIELDS'));
    const rowBytes = Number(hdu.cards.get('NAXIS1'));
    const nrows = Number(hdu.cards.get('NAXIS2'));
    if (hdu.dataOffset + rowBytes * nrows > buf.length) throw new Error('truncated FITS table');
    const cols: { name: string; type: string; repeat: number; offset: number }[] = [];
    let offset = 0;
    for (let i = 1; i <= tfields; i++) {
      const form = String(hdu.cards.get(`TFORM${i}`) ?? '');
      const m = /^\s*(\d*)([LXBIJKAEDCMPQ])/.exec(form);
      if (!m) throw new Error('bad TFORM');
      const repeat = m[1] === '' ? 1 : Number(m[1]);
      const type = m[2] ?? '';
      const width: Record<string, number> = { L: 1, B: 1, I: 2, J: 4, K: 8, A: 1, E: 4, D: 8, C: 8, M: 16, P: 8, Q: 16 };
      const w = type === 'X' ? Math.ceil(repeat / 8) : (width[type] ?? 0) * repeat;
      cols.push({ name: String(hdu.cards.get(`TTYPE${i}`) ?? '').toLowerCase(), type, repeat, offset });
      offset += w;
    }
    const xc = cols.find((c) => c.name === 'x');
    const yc = cols.find((c) => c.name === 'y');
    if (!xc || !yc) continue;
    const read = (c: (typeof cols)[number], row: number): number => {
      const at = hdu.dataOffset + row * rowBytes + c.offset;
      switch (c.type) {
        case 'D':
          return buf.readDoubleBE(at);
        case 'E':
          return buf.readFloatBE(at);
        case 'J':
          return buf.readInt32BE(at);
        case 'I':
          return buf.readInt16BE(at);
        case 'K':
          return Number(buf.readBigInt64BE(at));
        case 'B':
          return buf.readUInt8(at);
        default:
          throw new Error('unsupported x/y column type');
      }
    };
    const x: number[] = [];
    const y: number[] = [];
    for (let r = 0; r < nrows; r++) {
      x.push(read(xc, r));
      y.push(read(yc, r));
    }
    return { x, y };
  }
  return null;
}
