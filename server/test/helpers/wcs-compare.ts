/**
 * astroquery's test data (read from Debian's python3-astroquery, never copied here) and the
 * distance between two WCS solutions over a field, by astrometry.net's own `wcs-xy2rd`.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const PYTHON = process.env.ASTROQUERY_PYTHON ?? '/usr/bin/python3';

export function astroqueryData(): string {
  const r = spawnSync(PYTHON, ['-c', 'import astroquery, os; print(os.path.dirname(astroquery.__file__))'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`astroquery is not importable by ${PYTHON}; run scripts/install-astroquery.sh\n${r.stderr}`);
  return path.join(r.stdout.trim(), 'astrometry_net', 'tests', 'data');
}

/** RA, Dec (deg) of a FITS pixel (1-based) under a WCS file, by astrometry.net's own wcs-xy2rd. */
export function xy2rd(wcsFile: string, x: number, y: number): { ra: number; dec: number } {
  const r = spawnSync('wcs-xy2rd', ['-w', wcsFile, '-x', String(x), '-y', String(y)], { encoding: 'utf8' });
  const m = /RA,Dec \(([-0-9.e+]+), ([-0-9.e+]+)\)/.exec(r.stdout);
  if (r.status !== 0 || !m) throw new Error(`wcs-xy2rd failed: ${r.stdout}${r.stderr}${r.error?.message ?? ''}`);
  return { ra: Number(m[1]), dec: Number(m[2]) };
}

export function separationArcsec(a: { ra: number; dec: number }, b: { ra: number; dec: number }): number {
  const r = Math.PI / 180;
  const h = Math.sin(((b.dec - a.dec) * r) / 2) ** 2 + Math.cos(a.dec * r) * Math.cos(b.dec * r) * Math.sin(((b.ra - a.ra) * r) / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(h))) * 180 * 3600) / Math.PI;
}

/** The largest distance between two WCS over a 7 x 7 grid of pixels spanning the field, corners included. */
export function maxDisagreement(ours: string, nova: string, width: number, height: number): number {
  let worst = 0;
  for (let i = 0; i <= 6; i++) {
    for (let j = 0; j <= 6; j++) {
      const x = 0.5 + (width * i) / 6;
      const y = 0.5 + (height * j) / 6;
      worst = Math.max(worst, separationArcsec(xy2rd(ours, x, y), xy2rd(nova, x, y)));
    }
  }
  return worst;
}
