/**
 * The TAN part of an astrometry.net WCS and the Calibration that nova derives from it
 * (`net/wcs.py`, `net/api.py` calibration; astrometry's `sip.c` for centre and orientation).
 */
import type { Calibration } from '../../../models.js';
import { readHeader, type FitsHeader } from './fits.js';

/** A gnomonic (TAN) WCS: FITS 1-based pixels, degrees. SIP terms are ignored, as nova does. */
export interface TanWcs {
  crval1: number;
  crval2: number;
  crpix1: number;
  crpix2: number;
  cd11: number;
  cd12: number;
  cd21: number;
  cd22: number;
  imagew: number;
  imageh: number;
}

const DEG = Math.PI / 180;

function need(h: FitsHeader, key: string): number {
  const v = h.cards.get(key);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`WCS header lacks ${key}`);
  return v;
}

/** Read the TAN part of the WCS in the primary header of `buf` (e.g. solve-field's wcs.fits). */
export function readTanWcs(buf: Uint8Array, size?: { width: number; height: number }): TanWcs {
  const h = readHeader(buf, 0);
  const w = size?.width ?? need(h, 'IMAGEW');
  const hh = size?.height ?? need(h, 'IMAGEH');
  return {
    crval1: need(h, 'CRVAL1'),
    crval2: need(h, 'CRVAL2'),
    crpix1: need(h, 'CRPIX1'),
    crpix2: need(h, 'CRPIX2'),
    cd11: need(h, 'CD1_1'),
    cd12: need(h, 'CD1_2'),
    cd21: need(h, 'CD2_1'),
    cd22: need(h, 'CD2_2'),
    imagew: w,
    imageh: hh,
  };
}

/** Pixel (1-based FITS convention) to RA/Dec in degrees, RA in [0, 360). */
export function tanPixelToRadec(wcs: TanWcs, x: number, y: number): { ra: number; dec: number } {
  const u = x - wcs.crpix1;
  const v = y - wcs.crpix2;
  // Intermediate world coordinates (degrees): xi towards east, eta towards north.
  const xi = (wcs.cd11 * u + wcs.cd12 * v) * DEG;
  const eta = (wcs.cd21 * u + wcs.cd22 * v) * DEG;
  const ra0 = wcs.crval1 * DEG;
  const dec0 = wcs.crval2 * DEG;
  // r = unit vector of the tangent point; e = east; n = north; point = r + xi e + eta n.
  const r = [Math.cos(dec0) * Math.cos(ra0), Math.cos(dec0) * Math.sin(ra0), Math.sin(dec0)];
  const e = [-Math.sin(ra0), Math.cos(ra0), 0];
  const n = [-Math.sin(dec0) * Math.cos(ra0), -Math.sin(dec0) * Math.sin(ra0), Math.cos(dec0)];
  const p = [0, 1, 2].map((i) => (r[i] as number) + xi * (e[i] as number) + eta * (n[i] as number));
  const [px, py, pz] = p as [number, number, number];
  let ra = Math.atan2(py, px) / DEG;
  if (ra < 0) ra += 360;
  if (ra >= 360) ra -= 360;
  const dec = Math.atan2(pz, Math.hypot(px, py)) / DEG;
  return { ra, dec };
}

/** Pixel scale in arcsec/px: 3600 * sqrt(|det CD|) (`TanWCS.get_pixscale`). */
export function pixelScale(wcs: TanWcs): number {
  return 3600 * Math.sqrt(Math.abs(wcs.cd11 * wcs.cd22 - wcs.cd12 * wcs.cd21));
}

/** `1` when det(CD) >= 0, else `-1`. */
export function parityOf(wcs: TanWcs): 1 | -1 {
  return wcs.cd11 * wcs.cd22 - wcs.cd12 * wcs.cd21 >= 0 ? 1 : -1;
}

/** "Up is N degrees E of N" from the CD matrix (astrometry's `tan_get_orientation`), in (-180, 180]. */
export function orientationOf(wcs: TanWcs): number {
  const parity = parityOf(wcs);
  const t = parity * wcs.cd11 + wcs.cd22;
  const a = parity * wcs.cd21 - wcs.cd12;
  let o = -Math.atan2(a, t) / DEG;
  if (o <= -180) o += 360;
  if (o > 180) o -= 360;
  return o;
}

/** Field centre: the TAN WCS at pixel ((W+1)/2, (H+1)/2) (`tan_get_radec_center`). */
export function fieldCenter(wcs: TanWcs): { ra: number; dec: number } {
  return tanPixelToRadec(wcs, 0.5 + 0.5 * wcs.imagew, 0.5 + 0.5 * wcs.imageh);
}

/**
 * The Calibration nova reports for a solved job. `flipOrientation` is true for JPEG/PNG/GIF
 * inputs, where nova reports `(180 - o + 360) % 360`.
 */
export function calibrationFromTan(wcs: TanWcs, flipOrientation: boolean): Calibration {
  const pixscale = pixelScale(wcs);
  const { ra, dec } = fieldCenter(wcs);
  const radius = (pixscale * Math.hypot(wcs.imagew, wcs.imageh)) / 2 / 3600;
  let orientation = orientationOf(wcs);
  if (flipOrientation) orientation = (((180 - orientation + 360) % 360) + 360) % 360;
  return {
    ra,
    dec,
    radius,
    pixscale,
    orientation,
    parity: parityOf(wcs),
    width_arcsec: wcs.imagew * pixscale,
    height_arcsec: wcs.imageh * pixscale,
  };
}
