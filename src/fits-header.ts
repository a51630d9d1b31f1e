/**
 * Reads the primary header of a FITS file into its cards: enough to use a WCS file from nova
 * (CRVAL, CRPIX, CD, SIP terms) without a FITS library.
 */
import { UnexpectedContentError } from './errors.js';

export type FitsValue = string | number | boolean | null;

export interface FitsCard {
  keyword: string;
  value: FitsValue;
  comment?: string;
}

export interface FitsHeader {
  cards: FitsCard[];
  /** Value of the first card with this keyword. */
  get(keyword: string): FitsValue | undefined;
}

const CARD = 80;
const BLOCK = 2880;

export function parseFitsHeader(bytes: Uint8Array): FitsHeader {
  const text = new TextDecoder('latin1').decode(bytes.subarray(0, Math.min(bytes.length, BLOCK * 64)));
  if (!text.startsWith('SIMPLE  =')) {
    throw new UnexpectedContentError('a FITS file', { url: '(file)', status: 200, contentType: '', bodyStart: text.slice(0, 80) });
  }
  const cards: FitsCard[] = [];
  for (let offset = 0; offset + CARD <= text.length; offset += CARD) {
    const card = text.slice(offset, offset + CARD);
    const keyword = card.slice(0, 8).trim();
    if (keyword === 'END') break;
    if (card.slice(8, 10) !== '= ') {
      if (keyword === 'COMMENT' || keyword === 'HISTORY') cards.push({ keyword, value: card.slice(8).trimEnd() });
      continue;
    }
    cards.push({ keyword, ...parseValue(card.slice(10)) });
  }
  return {
    cards,
    get: (keyword: string) => cards.find((c) => c.keyword === keyword)?.value,
  };
}

function parseValue(field: string): { value: FitsValue; comment?: string } {
  const trimmed = field.trimStart();
  if (trimmed.startsWith("'")) {
    let value = '';
    let i = 1;
    for (; i < trimmed.length; i++) {
      if (trimmed[i] === "'") {
        if (trimmed[i + 1] === "'") {
          value += "'";
          i++;
          continue;
        }
        break;
      }
      value += trimmed[i];
    }
    return withComment(value.trimEnd(), trimmed.slice(i + 1));
  }
  const slash = trimmed.indexOf('/');
  const raw = (slash >= 0 ? trimmed.slice(0, slash) : trimmed).trim();
  const rest = slash >= 0 ? trimmed.slice(slash) : '';
  if (raw === 'T' || raw === 'F') return withComment(raw === 'T', rest);
  if (raw === '') return withComment(null, rest);
  const n = Number(raw.replace(/D/i, 'E'));
  return withComment(Number.isNaN(n) ? raw : n, rest);
}

function withComment(value: FitsValue, rest: string): { value: FitsValue; comment?: string } {
  const slash = rest.indexOf('/');
  const comment = slash >= 0 ? rest.slice(slash + 1).trim() : '';
  return comment ? { value, comment } : { value };
}
