/**
 * The angle between two sky positions: one formula for the whole client (the quality report's
 * residuals, the radius of a locally extracted image's calibration).
 */

const RAD = Math.PI / 180;
const ARCSEC_PER_RADIAN = (180 / Math.PI) * 3600;

/** The angle between two sky positions (degrees), arcseconds; haversine, exact at small angles. */
export function separationArcsec(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const dDec = (dec2 - dec1) * RAD;
  const dRa = (ra2 - ra1) * RAD;
  const h = Math.sin(dDec / 2) ** 2 + Math.cos(dec1 * RAD) * Math.cos(dec2 * RAD) * Math.sin(dRa / 2) ** 2;
  return 2 * Math.asin(Math.min(1, Math.sqrt(h))) * ARCSEC_PER_RADIAN;
}
