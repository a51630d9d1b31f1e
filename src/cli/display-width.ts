/**
 * How many terminal columns a string takes: East Asian wide and full-width characters and
 * emoji take two, combining marks, variation selectors and joiners none. `String.length`
 * counts UTF-16 units, which breaks the live view's lines on CJK or emoji file names.
 */
const ZERO = /[\p{M}\u200B-\u200F\uFE00-\uFE0F]/u;
const WIDE =
  /[\u1100-\u115F\u231A\u231B\u2329\u232A\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uA960-\uA97F\uAC00-\uD7A3\uF900-\uFAFF\uFE10-\uFE19\uFE30-\uFE6F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1F64F}\u{1F900}-\u{1F9FF}\u{20000}-\u{3FFFD}]|\p{Extended_Pictographic}/u;

/** Columns one code point takes. */
function columnsOf(ch: string): number {
  if (ZERO.test(ch)) return 0;
  return WIDE.test(ch) ? 2 : 1;
}

/** Columns `text` takes on a terminal. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) width += columnsOf(ch);
  return width;
}

/** The longest start of `text` that fits in `width` columns. */
export function sliceToWidth(text: string, width: number): string {
  let used = 0;
  let out = '';
  for (const ch of text) {
    const w = columnsOf(ch);
    if (used + w > width) break;
    used += w;
    out += ch;
  }
  return out;
}

/** The longest end of `text` that fits in `width` columns. */
export function sliceEndToWidth(text: string, width: number): string {
  const chars = [...text];
  let used = 0;
  let start = chars.length;
  while (start > 0) {
    const w = columnsOf(chars[start - 1] as string);
    if (used + w > width) break;
    used += w;
    start--;
  }
  return chars.slice(start).join('');
}

/** `text` padded with spaces to `width` columns. */
export function padToWidth(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}
