/**
 * `--source-list FILE`: star positions instead of an image. Accepted: a FITS binary table with
 * `x` and `y` columns (gzip allowed), CSV, or whitespace-separated text of `x y` per line.
 * CSV is read by csv-parse. In text, `#` starts a comment; a header line naming `x` and `y` picks those columns, else the
 * first two numeric columns are used.
 */
import { readFileSync, statSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { isFits, readXyColumns } from '../fits/index.js';
import { maybeGunzip } from './gunzip.js';
import { MAX_SOURCE_ROWS } from '../client/solve-input.js';

export interface ParsedSourceList {
  x: number[];
  y: number[];
}

export class SourceListError extends Error {
  override name = 'SourceListError';
}

/** Bytes a source list may take, read or inflated: a million rows of text with room to spare. */
const MAX_SOURCE_LIST_BYTES = 64 * 1024 * 1024;

export function readSourceList(path: string): ParsedSourceList {
  let bytes: Uint8Array;
  try {
    const size = statSync(path).size;
    if (size > MAX_SOURCE_LIST_BYTES) throw new Error(`it is ${Math.round(size / 2 ** 20)} MiB; a source list of at most ${MAX_SOURCE_ROWS} rows takes at most ${MAX_SOURCE_LIST_BYTES / 2 ** 20} MiB`);
    bytes = maybeGunzip(readFileSync(path), MAX_SOURCE_LIST_BYTES);
  } catch (error) {
    throw new SourceListError(`Cannot read the source list ${path}: ${(error as Error).message}`);
  }
  if (isFits(bytes)) {
    let xy: ParsedSourceList | undefined;
    try {
      xy = readXyColumns(bytes);
    } catch (error) {
      throw new SourceListError(`${path}: ${(error as Error).message}`);
    }
    if (!xy) throw new SourceListError(`${path}: no binary table with x and y columns.`);
    return check(xy, path);
  }
  return check(parseSourceListText(new TextDecoder().decode(bytes)), path);
}

export function parseSourceListText(text: string): ParsedSourceList {
  // CSV (comma, semicolon or tab, quoted cells allowed) when the text has such a separator;
  // otherwise columns separated by runs of spaces.
  const csv = /[,;\t]/.test(text.replace(/#.*/g, ''));
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      delimiter: csv ? [',', ';', '\t'] : ' ',
      comment: '#',
      trim: true,
      skip_empty_lines: true,
      skip_records_with_empty_values: true,
      relax_column_count: true,
      relax_quotes: true,
      info: true,
    }) as unknown as typeof records;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    throw new SourceListError(`${line ? `Line ${line}: ` : ''}${(error as Error).message}`);
  }
  const lines = text.split(/\r?\n/);
  const x: number[] = [];
  const y: number[] = [];
  let xi = 0;
  let yi = 1;
  for (const { record, info } of records) {
    const cells = csv ? record : record.filter((c) => c !== '');
    const numbers = cells.map((c) => (c === '' ? NaN : Number(c)));
    if (x.length === 0 && numbers.some((v) => Number.isNaN(v))) {
      // A header: look for columns named x and y; any other title line is skipped.
      const names = cells.map((c) => c.toLowerCase());
      if (names.includes('x') && names.includes('y')) {
        xi = names.indexOf('x');
        yi = names.indexOf('y');
      }
      continue;
    }
    const vx = numbers[xi];
    const vy = numbers[yi];
    if (vx === undefined || vy === undefined || !Number.isFinite(vx) || !Number.isFinite(vy)) {
      throw new SourceListError(`Line ${info.lines}: expected two numbers "x y", got "${lines[info.lines - 1] ?? cells.join(' ')}".`);
    }
    x.push(vx);
    y.push(vy);
  }
  return { x, y };
}

function check(list: ParsedSourceList, path: string): ParsedSourceList {
  if (list.x.length === 0) throw new SourceListError(`${path}: the source list has no positions.`);
  if (list.x.length > MAX_SOURCE_ROWS) throw new SourceListError(`${path}: the source list has ${list.x.length} rows; at most ${MAX_SOURCE_ROWS} are taken (nova solves from the brightest few hundred).`);
  return list;
}
