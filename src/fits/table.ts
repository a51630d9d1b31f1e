/**
 * FITS binary tables (BINTABLE extensions) of scalar numeric columns: reading any column by
 * name, writing the tables astrometry.net exchanges (x/y source lists, rdls, corr).
 */
import { FitsError } from './fits-error.js';
import { BLOCK, headerBytes, type CardInput, type FitsHeader } from './header.js';
import { readHdus, type FitsHdu } from './hdu.js';

/** Bytes of one element of each binary-table column type (TFORM code). */
export const TYPE_BYTES: Readonly<Record<string, number>> = { L: 1, X: 1, B: 1, I: 2, J: 4, K: 8, A: 1, E: 4, D: 8, C: 8, M: 16, P: 8, Q: 16 };

/** Where a binary table's column lies in each row, and how its values are scaled. */
export interface ColumnLayout {
  name: string;
  offset: number;
  code: string;
  repeat: number;
  scale: number;
  zero: number;
}

export interface BinTable {
  header: FitsHeader;
  rows: number;
  /** Column names (TTYPEn) as written. */
  columnNames: string[];
  /** A scalar numeric column (B, I, J, K, E, D) with TSCAL/TZERO applied; names match in any case. */
  column(name: string): Float64Array;
  /** True when a column of this name (any case) exists. */
  has(name: string): boolean;
}

/** The column layouts a binary table's header declares (TFIELDS, TFORMn, TTYPEn, TSCALn, TZEROn). */
export function columnLayouts(h: FitsHeader): ColumnLayout[] {
  const fields = h.number('TFIELDS', 0);
  const cols: ColumnLayout[] = [];
  let offset = 0;
  for (let i = 1; i <= fields; i++) {
    const form = String(h.get(`TFORM${i}`) ?? '').trim().toUpperCase();
    const m = /^(\d*)([LXBIJKAEDCMPQ])/.exec(form);
    if (!m) throw new FitsError(`The table's TFORM${i} "${form}" is not a FITS binary-table format.`);
    const repeat = m[1] ? Number(m[1]) : 1;
    const code = m[2] as string;
    const name = String(h.get(`TTYPE${i}`) ?? '').trim();
    cols.push({ name, offset, code, repeat, scale: h.number(`TSCAL${i}`, 1), zero: h.number(`TZERO${i}`, 0) });
    offset += code === 'X' ? Math.ceil(repeat / 8) : repeat * (TYPE_BYTES[code] as number);
  }
  return cols;
}

export function isBinTable(hdu: FitsHdu): boolean {
  return String(hdu.header.get('XTENSION') ?? '').trim().toUpperCase() === 'BINTABLE';
}

/** The binary table in `hdu` of `bytes`. */
export function readBinTableHdu(bytes: Uint8Array, hdu: FitsHdu): BinTable {
  const h = hdu.header;
  const rowBytes = h.number('NAXIS1');
  const rows = h.number('NAXIS2');
  const cols = columnLayouts(h);
  if (hdu.dataStart + rowBytes * rows > bytes.length) throw new FitsError('The FITS table is truncated.');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const find = (name: string): ColumnLayout | undefined => cols.find((c) => c.name.toUpperCase() === name.toUpperCase());
  return {
    header: h,
    rows,
    columnNames: cols.map((c) => c.name),
    has: (name) => find(name) !== undefined,
    column(name: string): Float64Array {
      const col = find(name);
      if (!col) throw new FitsError(`The FITS table has no column ${name}.`);
      if (col.repeat !== 1) throw new FitsError(`The FITS table's column ${name} is not a scalar.`);
      const out = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        const p = hdu.dataStart + r * rowBytes + col.offset;
        let v: number;
        switch (col.code) {
          case 'B': v = view.getUint8(p); break;
          case 'I': v = view.getInt16(p); break;
          case 'J': v = view.getInt32(p); break;
          case 'K': v = Number(view.getBigInt64(p)); break;
          case 'E': v = view.getFloat32(p); break;
          case 'D': v = view.getFloat64(p); break;
          default: throw new FitsError(`The FITS table's column ${name} (type ${col.code}) is not numeric.`);
        }
        out[r] = v * col.scale + col.zero;
      }
      return out;
    },
  };
}

/** The first binary table of a FITS file, or undefined when it has none. */
export function readBinTable(bytes: Uint8Array): BinTable | undefined {
  const hdu = readHdus(bytes).find(isBinTable);
  return hdu ? readBinTableHdu(bytes, hdu) : undefined;
}

/** The `x` and `y` columns (any case) of the first binary table that has both, or undefined. */
export function readXyColumns(bytes: Uint8Array): { x: number[]; y: number[] } | undefined {
  for (const hdu of readHdus(bytes).slice(1)) {
    if (!isBinTable(hdu)) continue;
    const table = readBinTableHdu(bytes, hdu);
    if (!table.has('x') || !table.has('y')) continue;
    return { x: Array.from(table.column('x')), y: Array.from(table.column('y')) };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Writing

export type ColumnType = 'D' | 'E' | 'K' | 'J' | 'I' | 'B';
const WIDTH: Record<ColumnType, number> = { D: 8, E: 4, K: 8, J: 4, I: 2, B: 1 };

export interface Column {
  name: string;
  type: ColumnType;
  values: ArrayLike<number>;
}

/** A primary HDU without data, carrying the given cards (e.g. a WCS header). */
export function emptyPrimary(extra: readonly CardInput[] = [], extend = true): Uint8Array {
  return headerBytes([
    { keyword: 'SIMPLE', value: true, comment: 'file does conform to FITS standard' },
    { keyword: 'BITPIX', value: 8 },
    { keyword: 'NAXIS', value: 0 },
    ...(extend ? [{ keyword: 'EXTEND', value: true }] : []),
    ...extra,
  ]);
}

/** A BINTABLE extension HDU of scalar columns, all of one length. */
export function binTable(columns: readonly Column[], extra: readonly CardInput[] = []): Uint8Array {
  const rows = columns[0]?.values.length ?? 0;
  if (columns.some((c) => c.values.length !== rows)) throw new FitsError('The table columns differ in length.');
  const rowBytes = columns.reduce((n, c) => n + WIDTH[c.type], 0);
  const head = headerBytes([
    { keyword: 'XTENSION', value: 'BINTABLE', comment: 'binary table extension' },
    { keyword: 'BITPIX', value: 8 },
    { keyword: 'NAXIS', value: 2 },
    { keyword: 'NAXIS1', value: rowBytes },
    { keyword: 'NAXIS2', value: rows },
    { keyword: 'PCOUNT', value: 0 },
    { keyword: 'GCOUNT', value: 1 },
    { keyword: 'TFIELDS', value: columns.length },
    ...columns.flatMap((c, i) => [
      { keyword: `TTYPE${i + 1}`, value: c.name },
      { keyword: `TFORM${i + 1}`, value: `1${c.type}` },
    ]),
    ...extra,
  ]);
  const out = new Uint8Array(head.length + Math.ceil((rowBytes * rows) / BLOCK) * BLOCK);
  out.set(head);
  const view = new DataView(out.buffer, head.length);
  let p = 0;
  for (let r = 0; r < rows; r++) {
    for (const c of columns) {
      const v = Number(c.values[r]);
      switch (c.type) {
        case 'D': view.setFloat64(p, v); break;
        case 'E': view.setFloat32(p, v); break;
        case 'K': view.setBigInt64(p, BigInt(Math.trunc(v))); break;
        case 'J': view.setInt32(p, Math.trunc(v)); break;
        case 'I': view.setInt16(p, Math.trunc(v)); break;
        case 'B': view.setUint8(p, Math.trunc(v) & 0xff); break;
      }
      p += WIDTH[c.type];
    }
  }
  return out;
}

/** A file with an empty primary HDU and one table, the shape astrometry.net writes. */
export function tableFile(columns: readonly Column[], extra: readonly CardInput[] = []): Uint8Array {
  const primary = emptyPrimary();
  const table = binTable(columns, extra);
  const out = new Uint8Array(primary.length + table.length);
  out.set(primary);
  out.set(table, primary.length);
  return out;
}

/** A source list as nova builds one from x/y uploads: float64 columns `x` and `y`, 1-based pixels. */
export function writeXyTable(x: ArrayLike<number>, y: ArrayLike<number>, extra: readonly CardInput[] = []): Uint8Array {
  if (x.length !== y.length) throw new FitsError('x and y must have the same length.');
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) throw new FitsError('x and y must be finite.');
  }
  return tableFile([
    { name: 'x', type: 'D', values: x },
    { name: 'y', type: 'D', values: y },
  ], extra);
}
