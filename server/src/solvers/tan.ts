import type { Calibration } from 'astrometry-net-client';

/**
 * The gnomonic (TAN) projection and the nova conventions that tie a CD matrix to the
 * calibration numbers the API reports (orientation, parity, pixscale).
 */

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

const D2R = Math.PI / 180;

/** Pixel (1-based FITS convention) to RA/Dec in degrees. */
export function pixelToRaDec(w: TanWcs, x: number, y: number): { ra: number; dec: number } {
  const dx = x - w.crpix1;
  const dy = y - w.crpix2;
  const xi = (w.cd11 * dx + w.cd12 * dy) * D2R;
  const eta = (w.cd21 * dx + w.cd22 * dy) * D2R;
  const ra0 = w.crval1 * D2R;
  const dec0 = w.crval2 * D2R;
  const denom = Math.cos(dec0) - eta * Math.sin(dec0);
  const ra = ra0 + Math.atan2(xi, denom);
  const dec = Math.atan2(Math.sin(dec0) + eta * Math.cos(dec0), Math.hypot(xi, denom));
  return { ra: (((ra / D2R) % 360) + 360) % 360, dec: dec / D2R };
}

/**
 * A CD matrix with the given scale (deg/px), orientation (degrees E of N) and parity, chosen so
 * that nova's `T = parity*cd11 + cd22; A = parity*cd21 - cd12; orientation = -atan2(A, T)`
 * gives back the orientation, and det(CD) has the parity's sign.
 */
export function cdMatrix(scaleDeg: number, orientationDeg: number, parity: 1 | -1): [number, number, number, number] {
  const o = orientationDeg * D2R;
  const s = scaleDeg;
  if (parity < 0) return [-s * Math.cos(o), s * Math.sin(o), s * Math.sin(o), s * Math.cos(o)];
  return [s * Math.cos(o), s * Math.sin(o), -s * Math.sin(o), s * Math.cos(o)];
}

/** "Up is N degrees E of N" from the CD matrix (astrometry's `tan_get_orientation`), in (-180, 180]. */
export function orientationOf(w: Pick<TanWcs, 'cd11' | 'cd12' | 'cd21' | 'cd22'>): number {
  const parity = parityOf(w);
  const t = parity * w.cd11 + w.cd22;
  const a = parity * w.cd21 - w.cd12;
  let o = -Math.atan2(a, t) / D2R;
  if (o <= -180) o += 360;
  if (o > 180) o -= 360;
  return o;
}

export function parityOf(w: Pick<TanWcs, 'cd11' | 'cd12' | 'cd21' | 'cd22'>): 1 | -1 {
  return w.cd11 * w.cd22 - w.cd12 * w.cd21 >= 0 ? 1 : -1;
}

export function pixscaleArcsec(w: Pick<TanWcs, 'cd11' | 'cd12' | 'cd21' | 'cd22'>): number {
  return Math.sqrt(Math.abs(w.cd11 * w.cd22 - w.cd12 * w.cd21)) * 3600;
}

/** Field centre: the TAN WCS at pixel ((W+1)/2, (H+1)/2) (`tan_get_radec_center`). */
export function fieldCenter(w: TanWcs): { ra: number; dec: number } {
  return pixelToRaDec(w, 0.5 + 0.5 * w.imagew, 0.5 + 0.5 * w.imageh);
}

/**
 * The Calibration nova reports for a solved job (`net/wcs.py`). `flipOrientation` is true for
 * JPEG/PNG/GIF inputs, where nova reports `(180 - o + 360) % 360`.
 */
export function calibrationFromTan(w: TanWcs, flipOrientation: boolean): Calibration {
  const pixscale = pixscaleArcsec(w);
  const { ra, dec } = fieldCenter(w);
  let orientation = orientationOf(w);
  if (flipOrientation) orientation = (((180 - orientation + 360) % 360) + 360) % 360;
  return {
    ra,
    dec,
    radius: (pixscale * Math.hypot(w.imagew, w.imageh)) / 2 / 3600,
    pixscale,
    orientation,
    parity: parityOf(w),
    width_arcsec: w.imagew * pixscale,
    height_arcsec: w.imageh * pixscale,
  };
}
