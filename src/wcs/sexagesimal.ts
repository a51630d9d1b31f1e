/**
 * Sky coordinates as people type them (the CLI's --ra/--dec, and header hints' OBJCTRA/RA text).
 *
 * RA: decimal degrees (`83.822`, `83.822d`), or hours in sexagesimal (`05:35:17.3`,
 * `5 35 17.3`, `5h35m17.3s`, `5h35.3m`). Dec: decimal degrees (`-5.391`), or sexagesimal
 * degrees (`-05:23:28`, `-5d23m28s`, `-5°23'28"`). Returns degrees, or `undefined` when the text
 * is not a coordinate (the caller reports it).
 */

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

interface Parts {
  sign: 1 | -1;
  values: number[];
}

/** Splits `-05:23:28`, `5h35m17.3s`, `-5d23m28s`, `5 35 17` into sign and up to 3 numbers. */
function split(text: string, units: RegExp): Parts | undefined {
  let t = text.trim();
  let sign: 1 | -1 = 1;
  if (t.startsWith('-') || t.startsWith('−')) {
    sign = -1;
    t = t.slice(1).trim();
  } else if (t.startsWith('+')) {
    t = t.slice(1).trim();
  }
  if (t === '') return undefined;
  let pieces: string[];
  if (units.test(t)) {
    // 5h35m17.3s / -5d23m28s / 5°23'28": each number followed by its unit, in order.
    const m = /^(\d+(?:\.\d*)?)\s*[hd°]\s*(?:(\d+(?:\.\d*)?)\s*[m']\s*(?:(\d+(?:\.\d*)?)\s*(?:s|"|'')?)?)?$/i.exec(t);
    if (!m) return undefined;
    pieces = [m[1], m[2], m[3]].filter((p): p is string => p !== undefined);
  } else {
    pieces = t.split(/\s*:\s*|\s+/);
    if (pieces.length < 2 || pieces.length > 3) return undefined;
    if (!pieces.every((p) => /^\d+(\.\d*)?$/.test(p))) return undefined;
  }
  const values = pieces.map(Number);
  // Minutes and seconds below 60; only the last component may have a fraction.
  for (let i = 1; i < values.length; i++) if ((values[i] as number) >= 60) return undefined;
  for (let i = 0; i < pieces.length - 1; i++) if ((pieces[i] as string).includes('.')) return undefined;
  return { sign, values };
}

function combine(values: number[]): number {
  return (values[0] ?? 0) + (values[1] ?? 0) / 60 + (values[2] ?? 0) / 3600;
}

export function parseRa(text: string): number | undefined {
  const t = text.trim();
  const deg = /^(.*?)\s*(d|deg|°)$/i.exec(t);
  if (NUMBER.test(t)) return Number(t);
  if (deg && NUMBER.test(deg[1] as string)) return Number(deg[1]);
  if (/[d°]/i.test(t)) return undefined; // RA in sexagesimal is hours
  const parts = split(t, /h/i);
  if (!parts || parts.sign < 0) return undefined;
  const hours = combine(parts.values);
  if (hours >= 24) return undefined;
  return hours * 15;
}

export function parseDec(text: string): number | undefined {
  const t = text.trim();
  if (NUMBER.test(t)) return Number(t);
  const deg = /^(.*?)\s*(deg)$/i.exec(t);
  if (deg && NUMBER.test(deg[1] as string)) return Number(deg[1]);
  if (/h/i.test(t)) return undefined;
  const parts = split(t, /[d°]/i);
  if (!parts) return undefined;
  const value = parts.sign * combine(parts.values);
  if (Math.abs(value) > 90) return undefined;
  return value;
}
