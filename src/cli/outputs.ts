/**
 * Result files: which to fetch (flags), what to name them (`<stem>.<ext>`), and writing them,
 * plus `<stem>.solved.fits` for FITS inputs.
 */
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FileResultKind, ResultFile } from '../protocol/result-kinds.js';
import type { FlagSpec, Flags } from './args.js';
import { isFits, mergeWcsIntoFits } from '../fits/index.js';
import { maybeGunzip } from './gunzip.js';

/** The file kinds the CLI offers, by the name used in flags and in `--json`'s `files`. */
export interface OutputKind {
  name: string;
  flag: string;
  display: FileResultKind;
  full: FileResultKind;
  ext: string;
  help: string;
}

export const OUTPUT_KINDS: readonly OutputKind[] = [
  { name: 'wcs', flag: 'wcs', display: 'wcs', full: 'wcs', ext: 'wcs.fits', help: 'the WCS header (on by default; --no-wcs to skip)' },
  { name: 'newFits', flag: 'new-fits', display: 'newFits', full: 'newFits', ext: 'new.fits', help: 'the image with the WCS, as the server writes it' },
  { name: 'corr', flag: 'corr', display: 'corr', full: 'corr', ext: 'corr.fits', help: 'matched stars (image vs. index)' },
  { name: 'rdls', flag: 'rdls', display: 'rdls', full: 'rdls', ext: 'rdls.fits', help: 'index stars in the field (RA, Dec)' },
  { name: 'axy', flag: 'axy', display: 'axy', full: 'axy', ext: 'axy.fits', help: 'the detected sources (x, y)' },
  { name: 'imageRd', flag: 'image-rd', display: 'imageRd', full: 'imageRd', ext: 'image-radec.fits', help: 'the detected sources in RA, Dec' },
  { name: 'annotated', flag: 'annotated', display: 'annotatedDisplay', full: 'annotatedFull', ext: 'annotated.jpg', help: 'the annotated plot' },
  { name: 'redGreen', flag: 'red-green', display: 'redGreenDisplay', full: 'redGreenFull', ext: 'red-green.png', help: 'the red-green matching plot' },
  { name: 'extraction', flag: 'extraction', display: 'extractionDisplay', full: 'extractionFull', ext: 'extraction.png', help: 'the source extraction plot' },
];

export const OUTPUT_FLAGS: readonly FlagSpec[] = [
  ...OUTPUT_KINDS.map((k) => ({ name: k.flag, type: 'boolean' as const })),
  { name: 'full-size', type: 'boolean' },
  { name: 'out', type: 'string', short: 'o' },
];

export interface OutputPlan {
  /** CLI kind names chosen by the flags. */
  kinds: OutputKind[];
  fullSize: boolean;
}

export function outputPlan(flags: Flags): OutputPlan {
  const kinds = OUTPUT_KINDS.filter((k) => flags.bool(k.flag, k.name === 'wcs'));
  return { kinds, fullSize: flags.bool('full-size') };
}

export function resultKindOf(kind: OutputKind, plan: OutputPlan): FileResultKind {
  return plan.fullSize ? kind.full : kind.display;
}

function extFor(kind: OutputKind, file: ResultFile): string {
  if (!kind.ext.endsWith('.jpg') && !kind.ext.endsWith('.png')) return kind.ext;
  const stem = kind.ext.replace(/\.[^.]+$/, '');
  if (file.contentType.includes('png')) return `${stem}.png`;
  if (file.contentType.includes('jpeg') || file.contentType.includes('jpg')) return `${stem}.jpg`;
  return kind.ext;
}

/** Writes atomically: a temp file in the same directory, then a rename. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export interface WrittenFiles {
  files: Record<string, string>;
  warnings: string[];
}

/**
 * Writes the fetched files of one solve. `wcsBytes` and `fitsInput` make `<stem>.solved.fits`
 * when the input is a FITS file.
 */
export function writeOutputs(args: {
  outDir: string;
  stem: string;
  plan: OutputPlan;
  fetched: Partial<Record<FileResultKind, ResultFile>>;
  fitsInputPath?: string;
  jobId: number | null;
}): WrittenFiles {
  const { outDir, stem, plan, fetched } = args;
  mkdirSync(outDir, { recursive: true });
  const files: Record<string, string> = {};
  const warnings: string[] = [];
  for (const kind of plan.kinds) {
    const file = fetched[resultKindOf(kind, plan)];
    if (!file) continue;
    const path = join(outDir, `${stem}.${extFor(kind, file)}`);
    writeFileAtomic(path, file.bytes);
    files[kind.name] = path;
  }
  if (args.fitsInputPath && fetched.wcs) {
    try {
      const input = readFileSync(args.fitsInputPath);
      const merged = mergeWcsIntoFits(maybeGunzip(input), maybeGunzip(fetched.wcs.bytes), args.jobId === null ? undefined : `WCS solved by astrometry.net job ${args.jobId}`);
      const path = join(outDir, `${stem}.solved.fits`);
      writeFileAtomic(path, merged);
      files.solvedFits = path;
    } catch (error) {
      warnings.push(`Could not write ${stem}.solved.fits: ${(error as Error).message}`);
    }
  }
  return { files, warnings };
}

/** Whether a file is FITS (gzip allowed), reading only the first block of a plain file. */
export function isFitsFile(path: string): boolean {
  try {
    const fd = openSync(path, 'r');
    const head = new Uint8Array(2880);
    let n: number;
    try {
      n = readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
    if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return isFits(maybeGunzip(readFileSync(path)));
    return isFits(head.subarray(0, n));
  } catch {
    return false;
  }
}

