/**
 * How good a solution is, read from the files the solve already has: the corr file (one row per
 * star of the image matched to a star of the index) and the WCS file (whose header comments carry
 * the log-odds of the match that solved it). Loaded on first use: a bundle that never asks for
 * a quality report carries neither this nor the FITS reader.
 */
import { FitsError, parseHeader, readBinTable } from '../fits/index.js';
import { separationArcsec } from '../wcs/separation.js';

export { separationArcsec };

/** Fewer matched stars than this and a solution is `suspect`: a handful of stars can line up by chance. */
export const SUSPECT_MIN_MATCHES = 8;
/** An RMS residual above this many pixels (at the solution's scale) and a solution is `suspect`. */
export const SUSPECT_MAX_RMS_PIXELS = 2;

export interface SolveQuality {
  /** Stars of the image matched to stars of the index: the rows of the corr file. */
  matchedStars: number;
  /** RMS angular distance between each matched image star (through the WCS) and its index star, arcseconds; `null` with no match. */
  rmsArcsec: number | null;
  /** Natural log of the odds that the match is true, as the solver wrote it in the WCS header; `null` when the header does not say. */
  logOdds: number | null;
  /** Few matches (under SUSPECT_MIN_MATCHES) or a large RMS (over SUSPECT_MAX_RMS_PIXELS pixels): check it before trusting it. */
  suspect: boolean;
}

/** The log-odds astrometry.net writes among a WCS header's comments (`COMMENT log odds: 133.476`). */
export function logOddsOf(wcsFile: Uint8Array): number | null {
  for (const card of parseHeader(wcsFile).header.cards) {
    if (card.keyword !== 'COMMENT' && card.keyword !== 'HISTORY') continue;
    const m = /^\s*log odds:\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)/i.exec(card.comment ?? '');
    if (m) return Number(m[1]);
  }
  return null;
}

/**
 * The quality of a solution: `corrFile` is its corr file, `wcsFile` its WCS file (for the
 * log-odds), `pixscale` its scale in arcseconds per pixel. Throws FitsError when the corr file
 * has no table of matches.
 */
export function measureQuality(corrFile: Uint8Array, wcsFile: Uint8Array | null, pixscale: number): SolveQuality {
  const table = readBinTable(corrFile);
  if (!table) throw new FitsError('The corr file holds no table of matched stars.');
  for (const name of ['field_ra', 'field_dec', 'index_ra', 'index_dec']) {
    if (!table.has(name)) throw new FitsError(`The corr file has no ${name} column.`);
  }
  const [fra, fdec, ira, idec] = ['field_ra', 'field_dec', 'index_ra', 'index_dec'].map((c) => table.column(c)) as [Float64Array, Float64Array, Float64Array, Float64Array];
  let sum = 0;
  for (let i = 0; i < table.rows; i++) sum += separationArcsec(fra[i] as number, fdec[i] as number, ira[i] as number, idec[i] as number) ** 2;
  const rmsArcsec = table.rows === 0 ? null : Math.sqrt(sum / table.rows);
  const logOdds = wcsFile ? logOddsOf(wcsFile) : null;
  const suspect = table.rows < SUSPECT_MIN_MATCHES || rmsArcsec === null || rmsArcsec > SUSPECT_MAX_RMS_PIXELS * pixscale;
  return { matchedStars: table.rows, rmsArcsec, logOdds, suspect };
}
