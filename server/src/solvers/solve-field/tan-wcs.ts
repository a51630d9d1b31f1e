/**
 * Reads the TAN part of an astrometry.net WCS file (SIP terms are ignored, as nova does).
 */
import { parseHeader, type FitsHeader } from 'astrometry-net-client/fits';
import type { TanWcs } from '../tan.js';

// The projection and nova's calibration conventions live in one place, shared with the
// simulated solver.
export { calibrationFromTan, fieldCenter, pixelToRaDec as tanPixelToRadec, type TanWcs } from '../tan.js';

function need(h: FitsHeader, key: string): number {
  const v = h.get(key);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`WCS header lacks ${key}`);
  return v;
}

/** Read the TAN part of the WCS in the primary header of `buf` (e.g. solve-field's wcs.fits). */
export function readTanWcs(buf: Uint8Array, size?: { width: number; height: number }): TanWcs {
  const { header: h } = parseHeader(buf);
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
