/**
 * Which field widths the installed astrometry.net index files can solve, read from the files'
 * own headers (SCALE_L / SCALE_U: the quad sizes each index holds), so `serve` can say so at
 * start, at `GET /api/server_info`, and in the log of a job that failed for want of an index.
 *
 * Rule of thumb (astrometry.net's): an index helps when its quads are 10 % to 100 % of the field
 * width, so an index with quads [L, U] serves fields from L to 10 U wide.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { intCard, numberCard, readPrimaryHeader } from '../indexes/header.js';
import type { ParsedUploadOptions } from '../solver-backend.js';

const ARCMIN_PER_RADIAN = (180 * 60) / Math.PI;
/** No field is wider than the sky a TAN projection can hold; past this a width means nothing. */
export const MAX_FIELD_ARCMIN = 180 * 60;

export interface IndexFile {
  path: string;
  indexId: number;
  healpix: number;
  /** Quad diameters this file holds, arcminutes. */
  quadArcmin: [number, number];
}

export interface IndexSeries {
  /** 4100, 4200, 5200, ...: astrometry.net's series number (INDEXID rounded down to 100). */
  series: number;
  name: string;
  /** Scale numbers present (INDEXID % 100), ascending. */
  scales: number[];
  files: number;
}

export interface IndexCoverage {
  dirs: string[];
  files: IndexFile[];
  series: IndexSeries[];
  /** Field widths served (arcminutes), merged; empty when no index file was found. */
  fieldArcmin: [number, number][];
}

/** The directories Debian's solve-field searches (`add_path` in /etc/astrometry.cfg). */
export async function systemIndexDirs(configPath = '/etc/astrometry.cfg'): Promise<string[]> {
  try {
    const text = await readFile(configPath, 'utf8');
    const dirs = [...text.matchAll(/^\s*add_path\s+(\S+)\s*$/gm)].map((m) => m[1] as string);
    return dirs.length > 0 ? dirs : ['/usr/share/astrometry'];
  } catch {
    return ['/usr/share/astrometry'];
  }
}

/** An index file's identity and quad sizes, from its primary header; null for any other file. */
export async function readIndexFile(file: string): Promise<IndexFile | null> {
  const h = await readPrimaryHeader(file).catch(() => null);
  if (!h) return null;
  const lo = numberCard(h, 'SCALE_L');
  const hi = numberCard(h, 'SCALE_U');
  const id = intCard(h, 'INDEXID');
  if (lo === undefined || hi === undefined || id === undefined || !(lo > 0) || !(hi >= lo)) return null;
  return { path: file, indexId: id, healpix: intCard(h, 'HEALPIX') ?? -1, quadArcmin: [lo * ARCMIN_PER_RADIAN, hi * ARCMIN_PER_RADIAN] };
}

export function seriesName(series: number): string {
  if (series === 4100) return 'Tycho-2 (4100)';
  if (series === 4200) return '2MASS (4200)';
  if (series === 5000) return 'Gaia DR2 (5000)';
  if (series === 5200) return 'Tycho-2 + Gaia DR2 (5200)';
  if (series === 6000) return 'Gaia EDR3 (6000)';
  return `series ${series}`;
}

/** Scans each directory (not recursively, as solve-field's autoindex does) for index files. */
export async function scanIndexDirs(dirs: readonly string[]): Promise<IndexCoverage> {
  const files: IndexFile[] = [];
  const seen = new Set<string>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      if (!/\.fits$/i.test(name)) continue;
      const full = path.join(dir, name);
      if (seen.has(full)) continue;
      seen.add(full);
      const st = await stat(full).catch(() => null);
      if (!st?.isFile()) continue;
      const f = await readIndexFile(full);
      if (f) files.push(f);
    }
  }
  const bySeries = new Map<number, { scales: Set<number>; files: number }>();
  for (const f of files) {
    const s = Math.floor(f.indexId / 100) * 100;
    const entry = bySeries.get(s) ?? { scales: new Set<number>(), files: 0 };
    entry.scales.add(f.indexId % 100);
    entry.files++;
    bySeries.set(s, entry);
  }
  const series = [...bySeries.entries()]
    .sort(([a], [b]) => a - b)
    .map(([s, e]) => ({ series: s, name: seriesName(s), scales: [...e.scales].sort((a, b) => a - b), files: e.files }));
  return { dirs: [...dirs], files, series, fieldArcmin: merge(files.map((f) => servedWidths(f.quadArcmin))) };
}

export function servedWidths([lo, hi]: [number, number]): [number, number] {
  return [lo, Math.min(hi * 10, MAX_FIELD_ARCMIN)];
}

function merge(ranges: [number, number][]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out.at(-1);
    // Adjacent scales share their bound up to rounding in the headers.
    if (last && lo <= last[1] * 1.001) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** 22', 1.5°: arcminutes under a degree, degrees from there. */
export function formatWidth(arcmin: number): string {
  if (arcmin < 60) return `${arcmin < 10 ? arcmin.toFixed(1) : Math.round(arcmin)}'`;
  const deg = arcmin / 60;
  return `${deg < 10 ? Number(deg.toFixed(1)) : Math.round(deg)}°`;
}

export function formatRanges(ranges: readonly [number, number][]): string {
  return ranges.length === 0 ? 'none' : ranges.map(([a, b]) => `${formatWidth(a)}–${formatWidth(b)}`).join(', ');
}

/** One line for logs and `--list-indexes`. */
export function describeCoverage(c: IndexCoverage): string {
  if (c.files.length === 0) return `no index files found in ${c.dirs.join(', ') || '(no directories)'}: every solve will fail`;
  const series = c.series.map((s) => `${s.name} scales ${scaleList(s.scales)}`).join('; ');
  return `${c.files.length} index files (${series}) in ${c.dirs.join(', ')}: fields ${formatRanges(c.fieldArcmin)} wide`;
}

function scaleList(scales: readonly number[]): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const parts: string[] = [];
  for (let i = 0; i < scales.length; ) {
    let j = i;
    while (j + 1 < scales.length && (scales[j + 1] as number) === (scales[j] as number) + 1) j++;
    parts.push(i === j ? two(scales[i] as number) : `${two(scales[i] as number)}–${two(scales[j] as number)}`);
    i = j + 1;
  }
  return parts.join(', ');
}

/**
 * The field widths (arcminutes) a job's options allow: its scale hint, with the image size for
 * a pixel scale. Null when the hint says nothing usable.
 */
export function hintedWidths(o: ParsedUploadOptions, size: { width: number; height: number } | undefined): [number, number] | null {
  let lo: number | undefined;
  let hi: number | undefined;
  if ((o.scale_type ?? 'ul') === 'ev') {
    if (o.scale_est === undefined || o.scale_err === undefined) return null;
    lo = o.scale_est * (1 - o.scale_err / 100);
    hi = o.scale_est * (1 + o.scale_err / 100);
  } else {
    lo = o.scale_lower;
    hi = o.scale_upper;
  }
  if (lo === undefined || hi === undefined || !(lo > 0) || !(hi >= lo) || !Number.isFinite(hi)) return null;
  const side = size ? Math.max(size.width, size.height) : undefined;
  switch ((o.scale_units ?? '').toLowerCase()) {
    case 'degwidth':
    case 'degw':
    case 'dw':
      return [lo * 60, hi * 60];
    case 'arcminwidth':
    case 'amw':
    case 'aw':
      return [lo, hi];
    case 'arcsecperpix':
    case 'app':
      return side ? [(lo * side) / 60, (hi * side) / 60] : null;
    case 'focalmm': {
      // solve-field's focalmm is a 35 mm-equivalent focal length: a 36 mm wide frame.
      const width = (f: number) => 2 * Math.atan(18 / f) * ARCMIN_PER_RADIAN;
      return [width(hi), width(lo)];
    }
    default:
      return null;
  }
}

/** Astrometry.net's scale table: quad diameters (arcminutes) of scale numbers 00–19. */
export const SCALE_QUADS: readonly [number, number][] = [
  [2, 2.8], [2.8, 4], [4, 5.6], [5.6, 8], [8, 11], [11, 16], [16, 22], [22, 30], [30, 42], [42, 60],
  [60, 85], [85, 120], [120, 170], [170, 240], [240, 340], [340, 480], [480, 680], [680, 1000], [1000, 1400], [1400, 2000],
];

/** Where a scale number is to be had: Debian's Tycho-2 packages for 07–19, astrometry.net's 4200/5200 series below. */
function sourcesOf(scales: readonly number[]): string[] {
  const out: string[] = [];
  const debian = scales.filter((s) => s >= 7 && s <= 9).map((s) => `astrometry-data-tycho2-${String(s).padStart(2, '0')}-littleendian`);
  if (scales.some((s) => s >= 10)) debian.push('astrometry-data-tycho2-10-19-littleendian');
  if (debian.length > 0) {
    out.push(`Tycho-2 index scales ${scaleList(scales.filter((s) => s >= 7))} (Debian packages ${debian.join(', ')}; scripts/install-solver.sh installs 07–19 by default)`);
  }
  const narrow = scales.filter((s) => s < 7);
  if (narrow.length > 0) {
    out.push(`astrometry.net's 5200 or 4200 series, scales ${scaleList(narrow)} (from astrometry.net's data site: astrometry-net indexes install)`);
  }
  return out;
}

/**
 * Why a failed job could not have solved, when its hinted field width lies outside what the
 * installed index files serve: the missing width range and the series or packages that cover
 * it. `partial` says the hint only reaches outside coverage (the field may still be covered).
 */
export function explainCoverage(
  coverage: IndexCoverage,
  widths: [number, number],
  source: string,
): { outside: boolean; message: string } | null {
  const [lo, hi] = widths;
  const covered = coverage.fieldArcmin;
  const overlaps = covered.some(([a, b]) => a <= hi && b >= lo);
  const inside = covered.some(([a, b]) => a <= lo && b >= hi);
  if (inside) return null;
  // The uncovered part of the hinted range.
  let missing: [number, number][] = [[lo, hi]];
  for (const [a, b] of covered) {
    missing = missing.flatMap(([x, y]): [number, number][] => {
      if (b < x || a > y) return [[x, y]];
      const parts: [number, number][] = [];
      if (x < a) parts.push([x, a]);
      if (y > b) parts.push([b, y]);
      return parts;
    });
  }
  missing = missing.filter(([x, y]) => y > x * 1.001);
  if (missing.length === 0) return null;
  const installed = new Set(coverage.files.map((f) => f.indexId % 100));
  const needed = SCALE_QUADS.flatMap(([qa, qb], s) =>
    !installed.has(s) && missing.some(([x, y]) => qa <= y && Math.min(qb * 10, MAX_FIELD_ARCMIN) >= x) ? [s] : [],
  );
  const have = `the installed index files serve fields ${formatRanges(covered)} wide`;
  const want = `fields ${formatRanges(missing)} need ${needed.length > 0 ? sourcesOf(needed).join(', or ') : 'index files of those scales'}`;
  const subject = `the field width ${formatRanges([[lo, hi]])} (${source})`;
  return overlaps
    ? { outside: false, message: `${subject} lies partly outside what the index covers: ${have}; ${want}.` }
    : { outside: true, message: `No index covers ${subject}: ${have}; ${want}.` };
}

/** The narrowest field any index scale serves (scale 00's quads), arcminutes. */
const NARROWEST_ARCMIN = (SCALE_QUADS[0] as [number, number])[0];

/**
 * Why a blind solve (no scale hint) may have failed, for its failure_reason and job log: the
 * field widths the installed index files serve, and what to install for narrower fields.
 */
export function explainBlindFailure(coverage: IndexCoverage): string {
  if (coverage.files.length === 0) {
    return 'Not solved: this server has no index files; install some, e.g. astrometry-net indexes install --width 0.1-2 (or the Debian packages astrometry-data-tycho2-*).';
  }
  const have = `this server's index files serve fields ${formatRanges(coverage.fieldArcmin)} wide`;
  const narrowest = coverage.fieldArcmin[0]?.[0] ?? NARROWEST_ARCMIN;
  if (narrowest <= NARROWEST_ARCMIN * 1.001) return `Not solved: ${have}; the field is outside those widths or has too few stars.`;
  const scales = SCALE_QUADS.flatMap(([qa], s) => (qa < narrowest * 0.999 ? [s] : []));
  const deg = (arcmin: number) => Number((arcmin / 60).toPrecision(2));
  return (
    `Not solved: ${have}; a field narrower than ${formatWidth(narrowest)} needs index scales ${scaleList(scales)}: ` +
    `${sourcesOf(scales).join(', or ')}; \`astrometry-net indexes install --width ${deg(NARROWEST_ARCMIN)}-${deg(narrowest)}\` fetches them.`
  );
}
