/**
 * Which healpix tile of astrometry.net's tiled index files (index-42XX-YY.fits,
 * index-52XX-YY.fits) holds a sky position. The tiles are numbered in astrometry.net's own "XY"
 * scheme, not HEALPix's RING or NESTED: tile = base × nside² + x × nside + y, with the 12 base
 * pixels numbered 0–3 around the north cap, 4–7 along the equator, 8–11 around the south cap,
 * and x running north-east, y north-west inside each. nside is 2 (48 tiles) for the small scales
 * and 1 (12 tiles) for a few middle ones. Debian's `get-healpix` prints the same numbers.
 */

const HALF_PI = Math.PI / 2;
const TWO_THIRDS = 2 / 3;

/** The XY-scheme healpix number of (ra, dec) in degrees. */
export function radecToHealpix(raDeg: number, decDeg: number, nside: number): number {
  const ra = (raDeg * Math.PI) / 180;
  const dec = (decDeg * Math.PI) / 180;
  const vx = Math.cos(dec) * Math.cos(ra);
  const vy = Math.cos(dec) * Math.sin(ra);
  const vz = Math.sin(dec);
  let phi = Math.atan2(vy, vx);
  if (phi < 0) phi += 2 * Math.PI;
  const phiT = phi % HALF_PI;
  // Which quarter of the sky in longitude: the column of base pixels.
  const column = (((Math.round((phi - phiT) / HALF_PI) % 4) + 4) % 4);
  const clamp = (v: number) => Math.max(0, Math.min(nside - 1, Math.floor(v)));

  if (vz >= TWO_THIRDS || vz <= -TWO_THIRDS) {
    // A polar cap: the base pixel's corner is the pole.
    const north = vz >= TWO_THIRDS;
    const zf = north ? 1 : -1;
    const rootX = (1 - vz * zf) * 3 * (nside * (2 * phiT - Math.PI) / Math.PI) ** 2;
    const rootY = (1 - vz * zf) * 3 * (nside * 2 * phiT / Math.PI) ** 2;
    const kx = rootX <= 0 ? 0 : Math.sqrt(rootX);
    const ky = rootY <= 0 ? 0 : Math.sqrt(rootY);
    const xx = north ? nside - kx : ky;
    const yy = north ? nside - ky : kx;
    const base = north ? column : 8 + column;
    return base * nside * nside + clamp(xx) * nside + clamp(yy);
  }
  // The equatorial belt: a square in (z, phi) cut by its diagonals into four base pixels.
  const zUnits = (vz + TWO_THIRDS) / (4 / 3);
  const phiUnits = phiT / HALF_PI;
  let xx = (zUnits + phiUnits) * nside;
  let yy = (zUnits - phiUnits + 1) * nside;
  let base: number;
  if (xx >= nside) {
    xx -= nside;
    if (yy >= nside) {
      yy -= nside;
      base = column;
    } else {
      base = ((column + 1) % 4) + 4;
    }
  } else if (yy >= nside) {
    yy -= nside;
    base = column + 4;
  } else {
    base = 8 + column;
  }
  return base * nside * nside + clamp(xx) * nside + clamp(yy);
}

/**
 * The point at angular distance `distDeg` from (ra, dec) towards position angle `paDeg` (east
 * of north), with vectors so the poles need no special case.
 */
function offsetPoint(raDeg: number, decDeg: number, distDeg: number, paDeg: number): [number, number] {
  const r = Math.PI / 180;
  const [ra, dec, d, pa] = [raDeg * r, decDeg * r, distDeg * r, paDeg * r];
  const centre = [Math.cos(dec) * Math.cos(ra), Math.cos(dec) * Math.sin(ra), Math.sin(dec)];
  const north = [-Math.sin(dec) * Math.cos(ra), -Math.sin(dec) * Math.sin(ra), Math.cos(dec)];
  const east = [-Math.sin(ra), Math.cos(ra), 0];
  const p = [0, 1, 2].map((i) => Math.cos(d) * (centre[i] as number) + Math.sin(d) * (Math.cos(pa) * (north[i] as number) + Math.sin(pa) * (east[i] as number)));
  const [x, y, z] = p as [number, number, number];
  return [((Math.atan2(y, x) / r) % 360 + 360) % 360, Math.asin(Math.max(-1, Math.min(1, z))) / r];
}

/**
 * The tiles any part of the disc (centre ra/dec, radius, degrees) falls in, ascending. The disc
 * is sampled on rings a fraction of a tile apart (a tile of nside 2 is about 29° across), so
 * only slivers narrower than the step can be missed — and astrometry.net builds every tile with
 * a 1° margin of its neighbours' stars, which covers those.
 */
export function tilesInDisc(raDeg: number, decDeg: number, radiusDeg: number, nside: number): number[] {
  const tiles = new Set<number>([radecToHealpix(raDeg, decDeg, nside)]);
  const radius = Math.min(Math.max(radiusDeg, 0), 180);
  const step = Math.min(0.5, Math.max(radius / 40, 0.05));
  for (let d = step; d < radius + step; d += step) {
    const dist = Math.min(d, radius);
    const around = Math.max(8, Math.ceil((2 * Math.PI * Math.sin((dist * Math.PI) / 180) * 180) / Math.PI / step));
    for (let i = 0; i < around; i++) {
      const [ra, dec] = offsetPoint(raDeg, decDeg, dist, (360 * i) / around);
      tiles.add(radecToHealpix(ra, dec, nside));
    }
  }
  return [...tiles].sort((a, b) => a - b);
}
