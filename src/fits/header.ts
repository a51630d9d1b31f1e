/**
 * FITS headers: 80-character ASCII cards in 2880-byte blocks, ending with `END`.
 *
 * Reading understands the two conventions real files use beyond the standard's 8-character
 * keywords: HIERARCH (ESO's long keywords, `HIERARCH ESO DET CHIP = 1`) and CONTINUE (long
 * strings split over cards, each part but the last ending in `&`). Every parsed card keeps its
 * original card images, so a header can be rewritten without reformatting the cards it keeps.
 */
import { FitsError } from './fits-error.js';

export const BLOCK = 2880;
export const CARD = 80;

/** A card's value; `null` for a keyword with an empty value field (an undefined value). */
export type FitsValue = string | number | boolean | null;

export interface FitsCard {
  /** The keyword as written: upper case for standard keywords, as given after HIERARCH. */
  keyword: string;
  /** Absent on commentary cards (COMMENT, HISTORY, blank keyword). */
  value?: FitsValue;
  /** The comment after `/`, or a commentary card's text. */
  comment?: string;
  /** How the card was written, one 80-character image per card (more than one with CONTINUE). */
  images?: readonly string[];
}

const COMMENTARY = new Set(['COMMENT', 'HISTORY', '']);

/** The cards of one header, in order, with look-ups by keyword. */
export class FitsHeader {
  readonly cards: readonly FitsCard[];
  private readonly index = new Map<string, FitsCard>();

  constructor(cards: readonly FitsCard[]) {
    this.cards = cards;
    for (const card of cards) {
      const key = card.keyword.toUpperCase();
      if (card.value !== undefined && !this.index.has(key)) this.index.set(key, card);
    }
  }

  /** The value of the first card with this keyword (case-insensitive), or undefined. */
  get(keyword: string): FitsValue | undefined {
    return this.index.get(keyword.toUpperCase())?.value;
  }

  has(keyword: string): boolean {
    return this.index.has(keyword.toUpperCase());
  }

  /** A numeric value; `fallback` when the card is absent; throws when neither. */
  number(keyword: string, fallback?: number): number {
    const v = this.get(keyword);
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    throw new FitsError(v === undefined ? `The FITS header has no ${keyword}.` : `The FITS header's ${keyword} is not a number.`);
  }

  /** A string value, or undefined when the card is absent or not a string. */
  string(keyword: string): string | undefined {
    const v = this.get(keyword);
    return typeof v === 'string' ? v : undefined;
  }
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, Math.min(end, bytes.length)));
}

/** The string at the start of `field` (a quote, then '' for a quote, up to the closing quote). */
function parseString(field: string): { value: string; rest: string } {
  let value = '';
  let i = 1;
  for (; i < field.length; i++) {
    if (field[i] === "'") {
      if (field[i + 1] === "'") {
        value += "'";
        i++;
        continue;
      }
      break;
    }
    value += field[i];
  }
  return { value: value.trimEnd(), rest: field.slice(i + 1) };
}

function commentOf(rest: string): string | undefined {
  const slash = rest.indexOf('/');
  const comment = slash >= 0 ? rest.slice(slash + 1).trim() : '';
  return comment === '' ? undefined : comment;
}

/** Parses a value field (what follows `= `). */
export function parseValueField(field: string): { value: FitsValue; comment?: string } {
  const text = field.trimStart();
  let value: FitsValue;
  let rest: string;
  if (text.startsWith("'")) {
    ({ value, rest } = parseString(text));
  } else {
    const slash = text.indexOf('/');
    const raw = (slash >= 0 ? text.slice(0, slash) : text).trim();
    rest = slash >= 0 ? text.slice(slash) : '';
    if (raw === 'T' || raw === 'F') value = raw === 'T';
    else if (raw === '') value = null;
    else {
      const n = Number(raw.replace(/[dD]/, 'E'));
      value = Number.isNaN(n) ? raw : n;
    }
  }
  const comment = commentOf(rest);
  return comment === undefined ? { value } : { value, comment };
}

/** One card image to a card, or 'END'. CONTINUE is joined by the caller. */
function parseCard(image: string): FitsCard | 'END' {
  const keyword = image.slice(0, 8).trimEnd().toUpperCase();
  if (keyword === 'END' && image.slice(8).trim() === '') return 'END';
  if (keyword === 'HIERARCH') {
    const eq = image.indexOf('=', 9);
    if (eq > 0) return { keyword: image.slice(9, eq).trim(), ...parseValueField(image.slice(eq + 1)), images: [image] };
  }
  if (image.slice(8, 10) === '= ' && !COMMENTARY.has(keyword)) {
    return { keyword, ...parseValueField(image.slice(10)), images: [image] };
  }
  const text = image.slice(8).trimEnd();
  return text === '' ? { keyword, images: [image] } : { keyword, comment: text, images: [image] };
}

/**
 * Reads the header that starts at `offset` (block aligned) up to its END card.
 * Returns the header and where its data starts (the header padded to a block).
 */
export function parseHeader(bytes: Uint8Array, offset = 0): { header: FitsHeader; dataStart: number } {
  const cards: FitsCard[] = [];
  for (let pos = offset; pos + CARD <= bytes.length; pos += CARD) {
    const image = ascii(bytes, pos, pos + CARD);
    const card = parseCard(image);
    if (card === 'END') {
      return { header: new FitsHeader(cards), dataStart: offset + Math.ceil((pos + CARD - offset) / BLOCK) * BLOCK };
    }
    const last = cards[cards.length - 1];
    if (card.keyword === 'CONTINUE' && last && typeof last.value === 'string' && last.value.endsWith('&')) {
      const part = image.slice(8).trimStart();
      if (part.startsWith("'")) {
        const { value, rest } = parseString(part);
        const comment = [last.comment, commentOf(rest)].filter((c) => c !== undefined).join(' ');
        cards[cards.length - 1] = {
          keyword: last.keyword,
          value: last.value.slice(0, -1) + value,
          ...(comment === '' ? {} : { comment }),
          images: [...(last.images ?? []), image],
        };
        continue;
      }
    }
    cards.push(card);
  }
  throw new FitsError('Not a FITS file: the header has no END card.');
}

// ---------------------------------------------------------------------------------------------
// Writing

/** A real in at most 20 characters, always with a decimal point (FITS fixed format). */
export function formatReal(x: number): string {
  if (!Number.isFinite(x)) throw new FitsError('FITS cannot hold a non-finite header value.');
  // The shortest text that reads back to the same double, when it fits; else fewer digits.
  for (let digits = 0; digits <= 17; digits = digits === 0 ? 17 : digits === 1 ? 18 : digits - 1) {
    const raw = digits === 0 ? String(x) : x.toPrecision(digits);
    const e = raw.search(/e/i);
    let mantissa = e >= 0 ? raw.slice(0, e) : raw;
    const exp = e >= 0 ? 'E' + raw.slice(e + 1) : '';
    if (mantissa.includes('.')) {
      if (digits !== 0) mantissa = mantissa.replace(/0+$/, '').replace(/\.$/, '.0');
    } else mantissa += '.0';
    const text = mantissa + exp;
    if (text.length <= 20) return text;
  }
  throw new FitsError(`Cannot write ${x} in 20 characters.`);
}

/** How a number is written: `real` always has a decimal point; `integer` never does. */
export type NumberFormat = 'real' | 'integer';

export interface CardInput {
  keyword: string;
  value?: FitsValue;
  comment?: string;
  /** Default: integers as integers, other numbers as reals. */
  format?: NumberFormat;
  /** Card images to write as they are (a card read from a file). */
  images?: readonly string[];
}

function formatNumber(v: number, format: NumberFormat | undefined): string {
  if (format === 'integer' || (format === undefined && Number.isSafeInteger(v))) return String(Math.trunc(v));
  return formatReal(v);
}

function quote(s: string): string {
  return `'${s.replace(/'/g, "''").padEnd(8)}'`;
}

const STANDARD_KEYWORD = /^[A-Z0-9_-]{0,8}$/;

/** The 80-character card images of one card (long strings continue over CONTINUE cards). */
export function formatCard(card: CardInput): string[] {
  if (card.images) return [...card.images];
  const key = card.keyword;
  if (card.value === undefined) {
    const text = card.comment ?? '';
    const out: string[] = [];
    for (let i = 0; i === 0 || i < text.length; i += 72) out.push(`${key.padEnd(8)}${text.slice(i, i + 72)}`.padEnd(CARD));
    return out;
  }
  const hierarch = !STANDARD_KEYWORD.test(key);
  const lead = hierarch ? `HIERARCH ${key} = ` : `${key.padEnd(8)}= `;
  const v = card.value;
  const comment = card.comment ? ` / ${card.comment}` : '';
  if (typeof v === 'string') {
    const room = CARD - lead.length - 2;
    const escaped = v.replace(/'/g, "''");
    if (escaped.length <= room) return [(lead + quote(v) + comment).slice(0, CARD).padEnd(CARD)];
    // CONTINUE: split the string into parts that fit, never between the two quotes of a ''.
    const parts: string[] = [];
    let rest = v;
    let first = true;
    while (rest.length > 0) {
      const size = (first ? room : CARD - 12) - 1;
      let take = 0;
      let used = 0;
      while (take < rest.length && used + (rest[take] === "'" ? 2 : 1) <= size) used += rest[take++] === "'" ? 2 : 1;
      const piece = rest.slice(0, take);
      rest = rest.slice(take);
      const text = `'${piece.replace(/'/g, "''")}${rest.length > 0 ? '&' : ''}'`;
      parts.push(((first ? lead : 'CONTINUE  ') + text).padEnd(CARD));
      first = false;
    }
    // A comment goes on the last part when it fits; it is not data.
    const last = (parts.pop() as string).trimEnd();
    parts.push((last.length + comment.length <= CARD ? last + comment : last).padEnd(CARD));
    return parts;
  }
  const text = v === null ? '' : typeof v === 'boolean' ? (v ? 'T' : 'F') : formatNumber(v, card.format);
  const field = hierarch ? text : text.padStart(20);
  const image = lead + field + comment;
  if ((lead + field).length > CARD) throw new FitsError(`The FITS card ${key} does not fit in 80 characters.`);
  return [image.slice(0, CARD).padEnd(CARD)];
}

/** A header: the cards, END, padded with spaces to a block. */
export function headerBytes(cards: readonly CardInput[]): Uint8Array {
  const text = [...cards.flatMap(formatCard), 'END'.padEnd(CARD)].join('');
  const size = Math.ceil(text.length / BLOCK) * BLOCK;
  const out = new Uint8Array(size).fill(0x20);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0x7f;
  return out;
}
