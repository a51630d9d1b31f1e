/** Small FITS files written by hand for the CLI tests (independent of src/cli/fits.ts). */

export type CardValue = string | number | boolean;

/** One 80-character card: numbers and logicals right-aligned in columns 11-30, strings quoted. */
export function card(keyword: string, value?: CardValue, comment?: string): string {
  let text = keyword.padEnd(8);
  if (value !== undefined) {
    let v: string;
    if (typeof value === 'string') v = `'${value.replace(/'/g, "''").padEnd(8)}'`.padEnd(20);
    else if (typeof value === 'boolean') v = (value ? 'T' : 'F').padStart(20);
    else v = (Number.isInteger(value) ? String(value) : value.toExponential(10).toUpperCase()).padStart(20);
    text += `= ${v}`;
    if (comment) text += ` / ${comment}`;
  } else if (comment) {
    text += comment;
  }
  if (text.length > 80) throw new Error(`card too long: ${text}`);
  return text.padEnd(80);
}

/** A FITS file: the given header cards + END, padded to 2880, then `data` padded to 2880 with zeros. */
export function fitsFile(cards: string[], data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const header = [...cards, card('END')].join('');
  const headerLength = Math.ceil(header.length / 2880) * 2880;
  const dataLength = Math.ceil(data.length / 2880) * 2880;
  const out = new Uint8Array(headerLength + dataLength);
  out.set(new TextEncoder().encode(header.padEnd(headerLength, ' ')), 0);
  out.set(data, headerLength);
  return out;
}

/** A 16-bit image with a recognisable pattern, big-endian. */
export function int16Image(width: number, height: number): Uint8Array {
  const bytes = new Uint8Array(width * height * 2);
  const view = new DataView(bytes.buffer);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) view.setInt16((y * width + x) * 2, ((x * 37 + y * 101) % 3000) - 1000, false);
  }
  return bytes;
}

/** The header cards (80-character strings) up to END, and where the data starts. */
export function headerCards(bytes: Uint8Array): { cards: string[]; dataStart: number } {
  const text = new TextDecoder('latin1').decode(bytes);
  const cards: string[] = [];
  for (let pos = 0; pos + 80 <= text.length; pos += 80) {
    const c = text.slice(pos, pos + 80);
    if (c.startsWith('END     ') || c.trimEnd() === 'END') {
      return { cards, dataStart: Math.ceil((pos + 80) / 2880) * 2880 };
    }
    cards.push(c);
  }
  throw new Error('no END card');
}

/** A binary table HDU with float32 columns (for source-list tests). */
export function xyTable(x: number[], y: number[], names: [string, string] = ['X', 'Y']): Uint8Array {
  const primary = fitsFile([card('SIMPLE', true), card('BITPIX', 8), card('NAXIS', 0), card('EXTEND', true)]);
  const rows = x.length;
  const data = new Uint8Array(rows * 8);
  const view = new DataView(data.buffer);
  for (let i = 0; i < rows; i++) {
    view.setFloat32(i * 8, x[i] as number, false);
    view.setFloat32(i * 8 + 4, y[i] as number, false);
  }
  const table = fitsFile(
    [
      card('XTENSION', 'BINTABLE'),
      card('BITPIX', 8),
      card('NAXIS', 2),
      card('NAXIS1', 8),
      card('NAXIS2', rows),
      card('PCOUNT', 0),
      card('GCOUNT', 1),
      card('TFIELDS', 2),
      card('TTYPE1', names[0]),
      card('TFORM1', 'E'),
      card('TTYPE2', names[1]),
      card('TFORM2', 'E'),
    ],
    data,
  );
  const out = new Uint8Array(primary.length + table.length);
  out.set(primary, 0);
  out.set(table, primary.length);
  return out;
}
