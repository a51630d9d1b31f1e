/**
 * The index files astrometry.net's data site offers, by series: which scales each series has,
 * which are cut into healpix tiles, the field widths each file serves and roughly how large it
 * is. Nothing here is read from the site (this machine may not reach it); the layout is the
 * site's: `<mirror>/4100/index-4107.fits`, `<mirror>/4200/index-4205-03.fits`.
 */
import { SCALE_QUADS, servedWidths } from '../solvers/index-coverage.js';
import { tilesInDisc } from './healpix.js';

export const DATA_SITE = 'https://data.astrometry.net';

export const SERIES_IDS = [4100, 4200, 5200] as const;
export type SeriesId = (typeof SERIES_IDS)[number];

export interface SeriesInfo {
  id: SeriesId;
  catalogue: string;
  /** Scale numbers the site has, ascending. */
  scales: readonly number[];
  /** Healpix nside a scale is tiled in: 0 for one whole-sky file. */
  nside(scale: number): 0 | 1 | 2;
  /** Typical size of one file (one tile) of a scale, bytes: for planning, not checking. */
  fileBytes(scale: number): number;
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** Bytes of each Tycho-2 (4100) file on the data site, scales 07–19. */
const TYCHO2_BYTES: Record<number, number> = {
  7: 164_995_200, 8: 94_550_400, 9: 49_772_160, 10: 24_871_680, 11: 10_206_720, 12: 5_296_320, 13: 2_733_120,
  14: 1_382_400, 15: 740_160, 16: 408_960, 17: 247_680, 18: 187_200, 19: 144_000,
};
/** 2MASS (4200): a typical tile of scales 00–07, the whole-sky file from 08. */
const TWOMASS_BYTES: Record<number, number> = {
  0: 300e6, 1: 193e6, 2: 105e6, 3: 54.7e6, 4: 27.4e6, 5: 54.9e6, 6: 27.4e6, 7: 13.8e6, 8: 81_835_200, 9: 41_178_240,
  10: 20_517_120, 11: 8_017_920, 12: 4_167_360, 13: 2_157_120, 14: 1_100_160, 15: 596_160, 16: 339_840, 17: 213_120,
  18: 164_160, 19: 132_480,
};
/** Gaia DR2 with Tycho-2 (5200, the "lite" files): a typical tile. */
const GAIA_BYTES: Record<number, number> = { 0: 360e6, 1: 198e6, 2: 101e6, 3: 51_027_840, 4: 25_413_120, 5: 12_810_240, 6: 6_410_880 };

export const SERIES: Record<SeriesId, SeriesInfo> = {
  4100: { id: 4100, catalogue: 'Tycho-2', scales: range(7, 19), nside: () => 0, fileBytes: (s) => TYCHO2_BYTES[s] ?? 0 },
  4200: {
    id: 4200,
    catalogue: '2MASS',
    scales: range(0, 19),
    nside: (s) => (s <= 4 ? 2 : s <= 7 ? 1 : 0),
    fileBytes: (s) => TWOMASS_BYTES[s] ?? 0,
  },
  5200: { id: 5200, catalogue: 'Gaia DR2 + Tycho-2', scales: range(0, 6), nside: () => 2, fileBytes: (s) => GAIA_BYTES[s] ?? 0 },
};

/** One file on the data site. */
export interface CatalogueFile {
  series: SeriesId;
  scale: number;
  /** INDEXID in the file's header: series + scale. */
  indexId: number;
  /** HEALPIX in the file's header: the tile, or -1 for a whole-sky file. */
  healpix: number;
  /** `index-4107.fits`, `index-4205-03.fits`. */
  name: string;
  /** Path under the mirror: `4100/index-4107.fits`. */
  path: string;
  quadArcmin: [number, number];
  /** Field widths the file serves (quads of 10 % to 100 % of the field), arcminutes. */
  fieldArcmin: [number, number];
  approxBytes: number;
}

const two = (n: number) => String(n).padStart(2, '0');

/** Every tile count of a scale: 48 for nside 2, 12 for nside 1, 1 whole-sky file. */
export function tileCount(series: SeriesId, scale: number): number {
  const nside = SERIES[series].nside(scale);
  return nside === 0 ? 1 : 12 * nside * nside;
}

export function catalogueFile(series: SeriesId, scale: number, healpix: number): CatalogueFile {
  const indexId = series + scale;
  const name = healpix < 0 ? `index-${indexId}.fits` : `index-${indexId}-${two(healpix)}.fits`;
  const quad = SCALE_QUADS[scale] as [number, number];
  return {
    series,
    scale,
    indexId,
    healpix,
    name,
    path: `${series}/${name}`,
    quadArcmin: [quad[0], quad[1]],
    fieldArcmin: servedWidths(quad),
    approxBytes: SERIES[series].fileBytes(scale),
  };
}

/** Scales of a series whose files serve some width in [minArcmin, maxArcmin]. */
export function scalesFor(series: SeriesId, minArcmin: number, maxArcmin: number): number[] {
  return SERIES[series].scales.filter((s) => {
    const [lo, hi] = servedWidths(SCALE_QUADS[s] as [number, number]);
    return lo <= maxArcmin && hi >= minArcmin;
  });
}

export interface Sky {
  ra: number;
  dec: number;
  radius: number;
}

export interface PlanRequest {
  /** Field widths to serve, arcminutes. */
  widthArcmin: [number, number];
  series: readonly SeriesId[];
  /** Only the tiles covering this part of the sky (whole-sky files are always whole). */
  sky?: Sky;
}

/**
 * The files that serve the requested widths. Without an explicit series choice the caller passes
 * the default: Tycho-2 (4100) where it has the scale, Gaia (5200) for the narrower ones.
 */
export function planFiles(req: PlanRequest): CatalogueFile[] {
  const [lo, hi] = req.widthArcmin;
  const out: CatalogueFile[] = [];
  const taken = new Set<number>();
  for (const series of req.series) {
    for (const scale of scalesFor(series, lo, hi)) {
      // One series per scale: the first listed that has it wins (the files of one scale from
      // two catalogues only slow the solver down).
      if (taken.has(scale)) continue;
      taken.add(scale);
      const nside = SERIES[series].nside(scale);
      const tiles = nside === 0 ? [-1] : req.sky ? tilesInDisc(req.sky.ra, req.sky.dec, req.sky.radius, nside) : range(0, 12 * nside * nside - 1);
      for (const hp of tiles) out.push(catalogueFile(series, scale, hp));
    }
  }
  return out.sort((a, b) => a.scale - b.scale || a.healpix - b.healpix);
}

/** The default series order: Tycho-2 for 07 and up, Gaia + Tycho-2 below. */
export const DEFAULT_SERIES: readonly SeriesId[] = [4100, 5200];
