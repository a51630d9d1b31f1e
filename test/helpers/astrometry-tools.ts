/**
 * Debian's astrometry.net tools as references: solve-field for real WCS files, wcs-xy2rd and
 * wcs-rd2xy for the projection, wcsinfo for the derived numbers, image2xy for sources.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { readBinTable, tableFile } from '../../src/fits/index.js';
import { FIXTURES } from './cli-run.js';

const run = promisify(execFile);

export async function workDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** A fixture copied into `dir` (small.fits.gz unpacked); returns its path. */
export async function fixtureIn(dir: string, name: string): Promise<string> {
  const target = path.join(dir, name.replace(/\.gz$/, ''));
  if (name.endsWith('.gz')) await writeFile(target, gunzipSync(await readFile(path.join(FIXTURES, name))));
  else await copyFile(path.join(FIXTURES, name), target);
  return target;
}

/** Solves `file` blind with solve-field; returns the WCS file's path and bytes. */
export async function solveField(file: string): Promise<{ path: string; bytes: Uint8Array }> {
  const dir = path.dirname(file);
  const stem = path.basename(file).replace(/\.[^.]+$/, '');
  await run('nice', ['solve-field', '--overwrite', '--no-plots', '--no-verify', '--cpulimit', '60', '--dir', dir, '--new-fits', 'none', file], { timeout: 120_000 });
  const wcs = path.join(dir, `${stem}.wcs`);
  return { path: wcs, bytes: new Uint8Array(await readFile(wcs)) };
}

async function convert(tool: 'wcs-xy2rd' | 'wcs-rd2xy', wcs: string, cols: [string, string], a: number[], b: number[], out: [string, string]): Promise<[number[], number[]]> {
  const dir = await workDir('anc-wcs-');
  const input = path.join(dir, 'in.fits');
  const output = path.join(dir, 'out.fits');
  await writeFile(input, tableFile([
    { name: cols[0], type: 'D', values: a },
    { name: cols[1], type: 'D', values: b },
  ]));
  await run(tool, ['-w', wcs, '-i', input, '-o', output]);
  const table = readBinTable(new Uint8Array(await readFile(output)));
  if (!table) throw new Error(`${tool} wrote no table`);
  return [Array.from(table.column(out[0])), Array.from(table.column(out[1]))];
}

export const xy2rd = (wcs: string, x: number[], y: number[]): Promise<[number[], number[]]> => convert('wcs-xy2rd', wcs, ['X', 'Y'], x, y, ['RA', 'DEC']);
export const rd2xy = (wcs: string, ra: number[], dec: number[]): Promise<[number[], number[]]> => convert('wcs-rd2xy', wcs, ['RA', 'DEC'], ra, dec, ['X', 'Y']);

/** wcsinfo's key/value lines. */
export async function wcsinfo(wcs: string): Promise<Record<string, number>> {
  const { stdout } = await run('wcsinfo', [wcs]);
  return Object.fromEntries(stdout.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
}

/** Angular separation in arcseconds. */
export function separationArcsec(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const r = Math.PI / 180;
  const s = Math.sin(((dec2 - dec1) * r) / 2) ** 2 + Math.cos(dec1 * r) * Math.cos(dec2 * r) * Math.sin(((ra2 - ra1) * r) / 2) ** 2;
  return 2 * Math.asin(Math.sqrt(s)) * (180 / Math.PI) * 3600;
}
