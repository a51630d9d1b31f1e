/**
 * `--source-list FILE`: star positions instead of an image. Accepted: a FITS binary table with
 * `x` and `y` columns (gzip allowed), CSV, or whitespace-separated text of `x y` per line.
 * In text, `#` starts a comment; a header line naming `x` and `y` picks those columns, else the
 * first two numeric columns are used.
 */
import { readFileSync } from 'node:fs';
import { isFits, readXyColumns } from '../fits/index.js';
import { maybeGunzip } from './gunzip.js';

export interface ParsedSourceList {
  x: number[];
  y: number[];
}

export class SourceListError extends Error {
  override name = 'SourceListError';
}

export function readSourceList(path: string): ParsedSourceList {
  let bytes: Uint8Array;
  try {
    bytes = maybeGunzip(readFileSync(path));
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
  const x: number[] = [];
  const y: number[] = [];
  let xi = 0;
  let yi = 1;
  let sawData = false;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).replace(/#.*/, '').trim();
    if (line === '') continue;
    const cells = line.split(/\s*[,;\t]\s*|\s+/).map((c) => c.replace(/^"(.*)"$/, '$1'));
    const numbers = cells.map((c) => (c.trim() === '' ? NaN : Number(c)));
    if (!sawData && numbers.some((v) => Number.isNaN(v))) {
      // A header: look for columns named x and y.
      const names = cells.map((c) => c.trim().toLowerCase());
      const nx = names.indexOf('x');
      const ny = names.indexOf('y');
      if (nx >= 0 && ny >= 0) {
        xi = nx;
        yi = ny;
        continue;
      }
      if (x.length === 0) continue; // some other title line
    }
    const vx = numbers[xi];
    const vy = numbers[yi];
    if (vx === undefined || vy === undefined || !Number.isFinite(vx) || !Number.isFinite(vy)) {
      throw new SourceListError(`Line ${n + 1}: expected two numbers "x y", got "${lines[n]}".`);
    }
    sawData = true;
    x.push(vx);
    y.push(vy);
  }
  return { x, y };
}

function check(list: ParsedSourceList, path: string): ParsedSourceList {
  if (list.x.length === 0) throw new SourceListError(`${path}: the source list has no positions.`);
  return list;
}
