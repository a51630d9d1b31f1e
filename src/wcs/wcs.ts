/**
 * The world coordinate system of a solved image: astrometry.net's TAN (gnomonic) projection
 * with optional SIP distortion, read from the header of a WCS file.
 *
 * Pixels follow the FITS convention throughout: 1-based, the centre of the first pixel is
 * (1, 1), its outer corner (0.5, 0.5), and y counts FITS rows (which a PNG or JPEG shows
 * bottom-up: PNG row r, counted from 0 at the top, is y = height - r). This is the convention of
 * CRPIX, of astrometry.net's x/y lists and of `wcs-xy2rd`. Angles are in degrees, RA in [0, 360).
 */
import { parseHeader, type FitsHeader } from '../fits/index.js';
import { evaluate, gradient, readPolynomial, type SipPolynomial } from './sip.js';

const D2R = Math.PI / 180;
const R2D = 180 / Math.PI;

export interface SkyPoint {
  /** Right ascension, degrees in [0, 360). */
  ra: number;
  /** Declination, degrees. */
  dec: number;
}

export interface PixelPoint {
  /** 1-based FITS pixel x. */
  x: number;
  /** 1-based FITS pixel y. */
  y: number;
}

/** A header that does not describe a TAN or TAN-SIP WCS. */
export class WcsError extends Error {
  readonly code = 'invalid_wcs';

  constructor(message: string) {
    super(message);
    this.name = 'WcsError';
  }
}

function need(header: FitsHeader, keyword: string): number {
  const v = header.get(keyword);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new WcsError(`The WCS header has no numeric ${keyword}.`);
  return v;
}

/**
 * A TAN(-SIP) WCS. Build it with {@link Wcs.fromFits} from a WCS file's bytes (what
 * `result.wcs()` does) or {@link Wcs.fromHeader}; the header stays reachable as `wcs.header`.
 *
 * @example
 * ```ts
 * const wcs = await result.wcs();
 * const { ra, dec } = wcs.pixelToSky(100, 200);
 * const pixel = wcs.skyToPixel(83.82, -5.39); // null when the point is behind the tangent plane
 * wcs.header.get('CRVAL1');
 * ```
 */
export class Wcs {
  /** The header the WCS was read from. */
  readonly header: FitsHeader;
  /** CRVAL1, CRVAL2: the reference point's RA and Dec. */
  readonly crval: readonly [number, number];
  /** CRPIX1, CRPIX2: the reference pixel, 1-based. */
  readonly crpix: readonly [number, number];
  /** The CD matrix [[CD1_1, CD1_2], [CD2_1, CD2_2]], degrees per pixel. */
  readonly cd: readonly [readonly [number, number], readonly [number, number]];
  /** IMAGEW and IMAGEH (or NAXIS1, NAXIS2), in pixels. */
  readonly imageWidth: number;
  readonly imageHeight: number;
  /** SIP polynomials: A and B forward (pixel to sky), AP and BP reverse; absent for plain TAN. */
  readonly sip: { a: SipPolynomial; b: SipPolynomial; ap?: SipPolynomial; bp?: SipPolynomial } | undefined;
  readonly #inverse: [number, number, number, number];

  constructor(header: FitsHeader, size?: { width: number; height: number }) {
    const c1 = String(header.get('CTYPE1') ?? '');
    const c2 = String(header.get('CTYPE2') ?? '');
    if (!/^RA---TAN(-SIP)?$/.test(c1) || !/^DEC--TAN(-SIP)?$/.test(c2)) {
      throw new WcsError(`Only TAN and TAN-SIP projections in RA/Dec are supported, not ${c1 || '(no CTYPE1)'} / ${c2 || '(no CTYPE2)'}.`);
    }
    this.header = header;
    this.crval = [need(header, 'CRVAL1'), need(header, 'CRVAL2')];
    this.crpix = [need(header, 'CRPIX1'), need(header, 'CRPIX2')];
    let cd: [number, number, number, number];
    if (header.has('CD1_1') || header.has('CD2_2')) {
      cd = [header.number('CD1_1', 0), header.number('CD1_2', 0), header.number('CD2_1', 0), header.number('CD2_2', 0)];
    } else {
      // CDELT with PC (or the older CROTA2), as FITS paper II defines them.
      const d1 = need(header, 'CDELT1');
      const d2 = need(header, 'CDELT2');
      const rot = header.number('CROTA2', 0) * D2R;
      const pc = header.has('PC1_1')
        ? [header.number('PC1_1', 1), header.number('PC1_2', 0), header.number('PC2_1', 0), header.number('PC2_2', 1)]
        : [Math.cos(rot), (-Math.sin(rot) * d2) / d1, (Math.sin(rot) * d1) / d2, Math.cos(rot)];
      cd = [d1 * (pc[0] as number), d1 * (pc[1] as number), d2 * (pc[2] as number), d2 * (pc[3] as number)];
    }
    this.cd = [[cd[0], cd[1]], [cd[2], cd[3]]];
    const det = cd[0] * cd[3] - cd[1] * cd[2];
    if (det === 0) throw new WcsError('The WCS CD matrix is singular.');
    this.#inverse = [cd[3] / det, -cd[1] / det, -cd[2] / det, cd[0] / det];
    this.imageWidth = size?.width ?? header.number('IMAGEW', header.number('NAXIS1', 0));
    this.imageHeight = size?.height ?? header.number('IMAGEH', header.number('NAXIS2', 0));
    const a = readPolynomial(header, 'A');
    const b = readPolynomial(header, 'B');
    if (a && b) {
      const ap = readPolynomial(header, 'AP');
      const bp = readPolynomial(header, 'BP');
      this.sip = ap && bp ? { a, b, ap, bp } : { a, b };
    } else {
      this.sip = undefined;
    }
  }

  /** The WCS of a FITS file's primary header (a `wcs.fits` from nova or `solve-field`). */
  static fromFits(bytes: Uint8Array, size?: { width: number; height: number }): Wcs {
    return new Wcs(parseHeader(bytes).header, size);
  }

  static fromHeader(header: FitsHeader, size?: { width: number; height: number }): Wcs {
    return new Wcs(header, size);
  }

  /** Sky position of a 1-based FITS pixel, SIP A/B applied. */
  pixelToSky(x: number, y: number): SkyPoint {
    let u = x - this.crpix[0];
    let v = y - this.crpix[1];
    if (this.sip) {
      const du = evaluate(this.sip.a, u, v);
      const dv = evaluate(this.sip.b, u, v);
      u += du;
      v += dv;
    }
    const [[c11, c12], [c21, c22]] = this.cd;
    return this.#deproject((c11 * u + c12 * v) * D2R, (c21 * u + c22 * v) * D2R);
  }

  /**
   * The 1-based FITS pixel of a sky position, or null when it lies on the far side of the
   * tangent point (90° or more away), where TAN has no image. With SIP, the reverse
   * polynomials AP/BP are applied as astrometry.net does; without them, the forward A/B are
   * inverted by Newton iteration to 1e-10 px.
   */
  skyToPixel(ra: number, dec: number): PixelPoint | null {
    const plane = this.#project(ra, dec);
    if (!plane) return null;
    const [i11, i12, i21, i22] = this.#inverse;
    const U = (i11 * plane[0] + i12 * plane[1]) * R2D;
    const V = (i21 * plane[0] + i22 * plane[1]) * R2D;
    let u = U;
    let v = V;
    if (this.sip?.ap && this.sip.bp) {
      u = U + evaluate(this.sip.ap, U, V);
      v = V + evaluate(this.sip.bp, U, V);
    } else if (this.sip) {
      [u, v] = this.#undistort(U, V);
    }
    return { x: u + this.crpix[0], y: v + this.crpix[1] };
  }

  /** Pixel scale in arcseconds per pixel, from the CD matrix (at the reference point). */
  get pixelScale(): number {
    const [[a, b], [c, d]] = this.cd;
    return Math.sqrt(Math.abs(a * d - b * c)) * 3600;
  }

  /** 1 when det(CD) ≥ 0, else -1 (astrometry.net's parity; nova's calibration reports the same). */
  get parity(): 1 | -1 {
    const [[a, b], [c, d]] = this.cd;
    return a * d - b * c >= 0 ? 1 : -1;
  }

  /**
   * Position angle of the image's +y axis: degrees east of north, in (-180, 180], as
   * astrometry.net's `tan_get_orientation` (nova's `orientation` for FITS inputs; for PNG and
   * JPEG, whose rows run the other way, nova reports 180 - this).
   */
  get positionAngle(): number {
    const [[c11, c12], [c21, c22]] = this.cd;
    const p = this.parity;
    let o = -Math.atan2(p * c21 - c12, p * c11 + c22) * R2D;
    if (o <= -180) o += 360;
    if (o > 180) o -= 360;
    return o;
  }

  /** Sky position of the image centre, pixel ((W + 1) / 2, (H + 1) / 2). */
  get center(): SkyPoint {
    return this.pixelToSky((this.imageWidth + 1) / 2, (this.imageHeight + 1) / 2);
  }

  /**
   * Sky positions of the image's four outer corners, pixels (0.5, 0.5), (W + 0.5, 0.5),
   * (W + 0.5, H + 0.5) and (0.5, H + 0.5): the outline of the field.
   */
  get corners(): [SkyPoint, SkyPoint, SkyPoint, SkyPoint] {
    const w = this.imageWidth + 0.5;
    const h = this.imageHeight + 0.5;
    return [this.pixelToSky(0.5, 0.5), this.pixelToSky(w, 0.5), this.pixelToSky(w, h), this.pixelToSky(0.5, h)];
  }

  /** True when the sky position falls on the image (within its outer pixel edges). */
  contains(ra: number, dec: number): boolean {
    const p = this.skyToPixel(ra, dec);
    return p !== null && p.x >= 0.5 && p.x <= this.imageWidth + 0.5 && p.y >= 0.5 && p.y <= this.imageHeight + 0.5;
  }

  /** Intermediate world coordinates (radians) to sky: the gnomonic deprojection about CRVAL. */
  #deproject(xi: number, eta: number): SkyPoint {
    const ra0 = this.crval[0] * D2R;
    const dec0 = this.crval[1] * D2R;
    const denom = Math.cos(dec0) - eta * Math.sin(dec0);
    const ra = ra0 + Math.atan2(xi, denom);
    const dec = Math.atan2(Math.sin(dec0) + eta * Math.cos(dec0), Math.hypot(xi, denom));
    return { ra: (((ra * R2D) % 360) + 360) % 360, dec: dec * R2D };
  }

  /** Sky to intermediate world coordinates (radians), or null behind the tangent plane. */
  #project(ra: number, dec: number): [number, number] | null {
    const ra0 = this.crval[0] * D2R;
    const dec0 = this.crval[1] * D2R;
    const d = dec * D2R;
    const dra = ra * D2R - ra0;
    const cosc = Math.sin(dec0) * Math.sin(d) + Math.cos(dec0) * Math.cos(d) * Math.cos(dra);
    if (!(cosc > 0)) return null;
    return [(Math.cos(d) * Math.sin(dra)) / cosc, (Math.cos(dec0) * Math.sin(d) - Math.sin(dec0) * Math.cos(d) * Math.cos(dra)) / cosc];
  }

  /** Solves u + A(u, v) = U, v + B(u, v) = V for (u, v) by Newton's method. */
  #undistort(U: number, V: number): [number, number] {
    const { a, b } = this.sip as { a: SipPolynomial; b: SipPolynomial };
    let u = U;
    let v = V;
    for (let i = 0; i < 50; i++) {
      const fu = u + evaluate(a, u, v) - U;
      const fv = v + evaluate(b, u, v) - V;
      if (Math.abs(fu) < 1e-10 && Math.abs(fv) < 1e-10) break;
      const [au, av] = gradient(a, u, v);
      const [bu, bv] = gradient(b, u, v);
      const j11 = 1 + au;
      const j12 = av;
      const j21 = bu;
      const j22 = 1 + bv;
      const det = j11 * j22 - j12 * j21;
      u -= (j22 * fu - j12 * fv) / det;
      v -= (-j21 * fu + j11 * fv) / det;
    }
    return [u, v];
  }
}
