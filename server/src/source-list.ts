/**
 * Source lists read as streams, within a row budget: a text file of `x y` lines, or the x and y
 * columns of a FITS binary table. Memory stays bounded by the budget (two numbers a row), never
 * by the file: a 100 MB list of `1 1` lines stops at the first row past the budget.
 */
import { createReadStream } from 'node:fs';
import { columnLayouts, FitsError, TYPE_BYTES, type ColumnLayout } from 'astrometry-net-client/fits';
import { fitsHeaders, type ByteSource } from './declared-size.js';

/** The default row budget: a million sources, far more than a solve uses (the client's limit too). */
export const DEFAULT_MAX_SOURCE_ROWS = 1_000_000;

export type ListRead =
  | { ok: true; x: Float64Array; y: Float64Array }
  /** Not a source list (nova's "type is not supported"). */
  | { ok: false; reason: 'not-a-list' }
  /** A source list, but longer than the budget. */
  | { ok: false; reason: 'too-many-rows'; rows: number | undefined };

const NOT_A_LIST = { ok: false, reason: 'not-a-list' } as const;
/** A text line longer than this is no `x y` line. */
const MAX_LINE = 64 * 1024;
const NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/** The exception line a too-long list fails its submission with (nova's error_message shape around it). */
export function tooManyRowsError(maxRows: number, rows?: number): string {
  const have = rows === undefined ? `more than ${maxRows}` : String(rows);
  return `ValueError: the source list has ${have} rows; this server reads at most ${maxRows} (--max-source-rows)`;
}

/**
 * Whitespace-separated `x y` lines (more columns allowed, all numeric); `#` comments and blank
 * lines skipped; UTF-8. Read from `path` as a stream, stopped at the first bad line or at the
 * row past `maxRows`. Lines of plain ASCII (all real lists) are parsed from the bytes, without
 * a string per line; any other line goes through the text rules of parseLine.
 */
export async function readTextList(path: string, maxRows: number): Promise<ListRead> {
  const stream = createReadStream(path, { highWaterMark: 256 * 1024 });
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const rows = new Rows();
  let carry: Buffer | null = null;
  let first = true;
  /** One line, bytes [a, b) of buf: 'bad' when it is not an `x y` line. */
  const line = (buf: Buffer, a: number, b: number): 'ok' | 'bad' | 'full' => {
    let ascii = true;
    for (let i = a; i < b; i++) {
      if ((buf[i] as number) >= 0x80) {
        ascii = false;
        break;
      }
    }
    const r = ascii ? parseAsciiLine(buf, a, b) : parseLine(buf.toString('utf8', a, b));
    if (r === null) return 'ok';
    if (r === false) return 'bad';
    if (rows.length >= maxRows) return 'full';
    rows.push(r[0], r[1]);
    return 'ok';
  };
  try {
    for await (const raw of stream as AsyncIterable<Buffer>) {
      let chunk = raw;
      // UTF-8 is checked as it comes (a stream decoder keeps a sequence cut between chunks).
      try {
        utf8.decode(chunk, { stream: true });
      } catch {
        return NOT_A_LIST;
      }
      if (chunk.includes(0)) return NOT_A_LIST;
      if (first) {
        first = false;
        // A byte-order mark is no part of the first line (TextDecoder drops it too).
        if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
      }
      let start = 0;
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
        let r: 'ok' | 'bad' | 'full';
        if (carry) {
          const whole = Buffer.concat([carry, chunk.subarray(0, nl)]);
          carry = null;
          r = line(whole, 0, whole.length);
        } else {
          r = line(chunk, start, nl);
        }
        start = nl + 1;
        if (r === 'full') return { ok: false, reason: 'too-many-rows', rows: undefined };
        if (r === 'bad') return NOT_A_LIST;
      }
      if (start < chunk.length) carry = carry ? Buffer.concat([carry, chunk.subarray(start)]) : Buffer.from(chunk.subarray(start));
      if (carry && carry.length > MAX_LINE) return NOT_A_LIST;
    }
    try {
      utf8.decode();
    } catch {
      return NOT_A_LIST;
    }
    if (carry) {
      const r = line(carry, 0, carry.length);
      if (r === 'full') return { ok: false, reason: 'too-many-rows', rows: undefined };
      if (r === 'bad') return NOT_A_LIST;
    }
  } finally {
    stream.destroy();
  }
  return rows.length > 0 ? { ok: true, ...rows.done() } : NOT_A_LIST;
}

/** x and y columns growing by doubling, outside the JavaScript heap (8 bytes a number, no garbage). */
class Rows {
  length = 0;
  private x = new Float64Array(4096);
  private y = new Float64Array(4096);
  push(vx: number, vy: number): void {
    if (this.length === this.x.length) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.x = grow(this.x);
      this.y = grow(this.y);
    }
    this.x[this.length] = vx;
    this.y[this.length] = vy;
    this.length++;
  }
  done(): { x: Float64Array; y: Float64Array } {
    return { x: this.x.slice(0, this.length), y: this.y.slice(0, this.length) };
  }
}

/**
 * One line of a text list: its x and y, null for a blank or `#` line, false for anything else.
 * The rule parseTextList (probe.ts) applies: trimmed, split on whitespace, at least two fields,
 * every field a decimal number.
 */
export function parseLine(raw: string): [number, number] | null | false {
  const s = raw.trim();
  if (s === '' || s.startsWith('#')) return null;
  const parts = s.split(/\s+/);
  if (parts.length < 2) return false;
  for (const p of parts) if (!NUMBER.test(p)) return false;
  return [Number(parts[0]), Number(parts[1])];
}

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);
const isDigit = (c: number) => c >= 48 && c <= 57;

/** parseLine for a line of ASCII bytes [a, b), reading the numbers from the bytes. */
function parseAsciiLine(buf: Buffer, a: number, b: number): [number, number] | null | false {
  while (a < b && isSpace(buf[a] as number)) a++;
  while (b > a && isSpace(buf[b - 1] as number)) b--;
  if (a === b || buf[a] === 35 /* # */) return null;
  let fields = 0;
  let vx = 0;
  let vy = 0;
  let i = a;
  while (i < b) {
    let e = i;
    while (e < b && !isSpace(buf[e] as number)) e++;
    const v = asciiNumber(buf, i, e);
    if (v === undefined) return false;
    if (fields === 0) vx = v;
    else if (fields === 1) vy = v;
    fields++;
    i = e;
    while (i < b && isSpace(buf[i] as number)) i++;
  }
  return fields >= 2 ? [vx, vy] : false;
}

/** The value of a field matching NUMBER, or undefined; whole numbers of up to 15 digits without a string. */
function asciiNumber(buf: Buffer, a: number, b: number): number | undefined {
  let i = a;
  const sign = buf[i];
  if (sign === 43 || sign === 45) i++;
  let whole = 0;
  let digits = 0;
  while (i < b && isDigit(buf[i] as number)) {
    whole = whole * 10 + ((buf[i] as number) - 48);
    digits++;
    i++;
  }
  if (i === b) {
    if (digits === 0) return undefined;
    if (digits <= 15) return sign === 45 ? -whole : whole;
    return Number(buf.toString('latin1', a, b));
  }
  let frac = 0;
  if (buf[i] === 46 /* . */) {
    i++;
    while (i < b && isDigit(buf[i] as number)) {
      frac++;
      i++;
    }
  }
  if (digits === 0 && frac === 0) return undefined;
  if (i < b && (buf[i] === 101 || buf[i] === 69)) {
    i++;
    if (i < b && (buf[i] === 43 || buf[i] === 45)) i++;
    let exp = 0;
    while (i < b && isDigit(buf[i] as number)) {
      exp++;
      i++;
    }
    if (exp === 0) return undefined;
  }
  return i === b ? Number(buf.toString('latin1', a, b)) : undefined;
}

type Column = ColumnLayout;

function reader(col: Column): (b: Buffer, p: number) => number {
  if (col.repeat !== 1) throw new FitsError(`The FITS table's column ${col.name} is not a scalar.`);
  const { scale, zero } = col;
  switch (col.code) {
    case 'B': return (b, p) => b.readUInt8(p) * scale + zero;
    case 'I': return (b, p) => b.readInt16BE(p) * scale + zero;
    case 'J': return (b, p) => b.readInt32BE(p) * scale + zero;
    case 'K': return (b, p) => Number(b.readBigInt64BE(p)) * scale + zero;
    case 'E': return (b, p) => b.readFloatBE(p) * scale + zero;
    case 'D': return (b, p) => b.readDoubleBE(p) * scale + zero;
    default: throw new FitsError(`The FITS table's column ${col.name} (type ${col.code}) is not numeric.`);
  }
}

/**
 * The `x` and `y` columns (any case) of the first binary table that has both (the client's
 * readXyColumns), read in slices of rows: the row count is checked against the budget from the
 * header, before any data is read.
 */
export async function readFitsList(src: ByteSource, maxRows: number): Promise<ListRead> {
  try {
    for await (const hdu of fitsHeaders(src)) {
      const h = hdu.header;
      if (hdu.index === 0 || String(h.get('XTENSION') ?? '').trim().toUpperCase() !== 'BINTABLE') continue;
      const cols = columnLayouts(h);
      const find = (name: string) => cols.find((c) => c.name.toUpperCase() === name.toUpperCase());
      const cx = find('x');
      const cy = find('y');
      if (!cx || !cy) continue;
      const rowBytes = h.number('NAXIS1');
      const rows = h.number('NAXIS2');
      if (rows > maxRows) return { ok: false, reason: 'too-many-rows', rows };
      if (src.size !== undefined && hdu.dataStart + rowBytes * rows > src.size) return NOT_A_LIST; // truncated
      const rx = reader(cx);
      const ry = reader(cy);
      const x = new Float64Array(rows);
      const y = new Float64Array(rows);
      // A slice of whole rows at a time; a row wider than the slice is read field by field.
      const perSlice = Math.max(1, Math.floor((1 << 20) / Math.max(1, rowBytes)));
      for (let r = 0; r < rows; r += perSlice) {
        const n = Math.min(perSlice, rows - r);
        if (rowBytes <= 1 << 20) {
          const buf = await src.read(hdu.dataStart + r * rowBytes, rowBytes * n);
          if (buf.length < rowBytes * n) return NOT_A_LIST;
          for (let i = 0; i < n; i++) {
            x[r + i] = rx(buf, i * rowBytes + cx.offset);
            y[r + i] = ry(buf, i * rowBytes + cy.offset);
          }
        } else {
          const at = hdu.dataStart + r * rowBytes;
          // In file order, so that a forward-only source can serve both.
          const [first, second] = cx.offset <= cy.offset ? [cx, cy] : [cy, cx];
          const a = Buffer.from(await src.read(at + first.offset, 8));
          const b = Buffer.from(await src.read(at + second.offset, 8));
          const field = (c: Column) => (c === first ? a : b);
          if (field(cx).length < (TYPE_BYTES[cx.code] ?? 8) || field(cy).length < (TYPE_BYTES[cy.code] ?? 8)) return NOT_A_LIST;
          x[r] = rx(field(cx), 0);
          y[r] = ry(field(cy), 0);
        }
      }
      return { ok: true, x, y };
    }
  } catch {
    return NOT_A_LIST;
  }
  return NOT_A_LIST;
}
