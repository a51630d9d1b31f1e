/**
 * Hints read from a FITS header: where the mount pointed and the optics' pixel scale, as
 * capture programs (N.I.N.A., SharpCap, Ekos, MaxIm DL) write them. Only the start of the file
 * is read (8 blocks, then at most HEAD_BYTES when the header goes on; as much inflated for a
 * .fits.gz), never the image.
 * Loaded with import() by the solves that read hints, so the browser bundle of Client does not
 * carry the FITS reader.
 *
 * What is read, first found wins:
 * - position: a celestial WCS already in the header (its centre), else OBJCTRA/OBJCTDEC
 *   (sexagesimal hours and degrees), else RA/DEC (degrees);
 * - scale: a WCS's CD or CDELT, else PIXSCALE or SECPIX (arcsec/px), else FOCALLEN (mm) with
 *   XPIXSZ/YPIXSZ (µm). XPIXSZ is the binned pixel, as MaxIm DL defines it and N.I.N.A. and
 *   Ekos write it; PIXSIZE1/PIXSIZE2 (INDI's unbinned pixel) are multiplied by XBINNING/YBINNING.
 * Anything unreadable (no FITS, no END in the bound, a bad value) gives no hint, never an error:
 * the upload goes on and the server judges the file.
 */
import { isFits, isGzip, parseHeader, readHdus, type FitsHeader } from '../fits/index.js';
import { Wcs } from '../wcs/index.js';
import { parseDec, parseRa } from '../wcs/sexagesimal.js';
import { platform } from '../platform/web-platform.js';
import type { FoundHints, SolveHints } from './hints.js';
import { applyHints } from './apply-hints.js';
import type { UploadOptions } from '../protocol/upload-options.js';
import type { SolveInput } from './solve-input.js';

/** The most bytes read of a file (and inflated of a .fits.gz): 90 blocks, 3240 header cards. */
export const HEAD_BYTES = 90 * 2880;
/** What is read first: 8 blocks hold the header of nearly every capture program's file. */
const FIRST_READ = 8 * 2880;

const ARCSEC_PER_RADIAN = 206_264.806;

/** The options with the header's hints applied (the caller's own options win), and those hints. */
export async function hintedOptions<O extends UploadOptions>(input: SolveInput, options: O, strict: boolean): Promise<{ options: O; hints: SolveHints | null }> {
  return applyHints(options, await readHeaderHints(input), strict);
}

/** The hints a FITS input's header gives; `{}` for anything else (a PNG, a URL, a stream, a source list). */
export async function readHeaderHints(input: SolveInput): Promise<FoundHints> {
  try {
    for (const size of [FIRST_READ, HEAD_BYTES]) {
      const head = await headOf(input, size);
      if (!head) return {};
      // The last read is final: a header cut off there gives what is whole (the primary's cards).
      const found = await hintsFromHead(head, size, size < HEAD_BYTES);
      // Read again, further, only when the header went on past the first read.
      if (found !== 'incomplete') return found;
      if (head.length < size) return {};
    }
  } catch {
    // Unreadable: no hint (the upload reports a path it cannot read).
  }
  return {};
}

/**
 * The hints of a FITS file's first bytes (plain or gzip); `'incomplete'` when its header runs past
 * them. With `readMore`, the bytes may have been cut at `maxBytes` (a wider read can follow): a
 * first extension's header cut off there is `'incomplete'` too, not a file with no extension.
 */
export async function hintsFromHead(bytes: Uint8Array, maxBytes = HEAD_BYTES, readMore = false): Promise<FoundHints | 'incomplete'> {
  const head = isGzip(bytes) ? await inflateHead(bytes, maxBytes) : bytes;
  if (!isFits(head)) return {};
  let headers: FitsHeader[] | 'incomplete';
  try {
    headers = imageHeaders(head, readMore && head.length >= maxBytes);
  } catch {
    return 'incomplete';
  }
  return headers === 'incomplete' ? headers : hintsFromHeaders(headers);
}

/**
 * The image's header first, then the primary one (a primary with no image leaves its cards to an
 * extension); `'incomplete'` when the bytes were `cut` before the first extension's header ended.
 */
function imageHeaders(head: Uint8Array, cut: boolean): FitsHeader[] | 'incomplete' {
  const { header: primary } = parseHeader(head);
  if (primary.number('NAXIS', 0) >= 2) return [primary];
  // No image in the primary: the first extension's header follows it (read while it is within the bound).
  const hdus = readHdus(head, 2);
  const ext = hdus[1];
  // readHdus stops quietly at an extension it cannot read whole: in cut bytes, that may be this one.
  if (!ext && cut) return 'incomplete';
  return ext && ext.header.number('NAXIS', 0) >= 2 ? [ext.header, primary] : [primary];
}

/** The hints of an image's header (and the primary's, for cards the image's lacks). */
export function hintsFromHeaders(headers: readonly FitsHeader[]): FoundHints {
  const get = (keyword: string) => {
    for (const h of headers) {
      const v = h.get(keyword);
      if (v !== undefined && v !== null) return v;
    }
    return undefined;
  };
  const num = (keyword: string): number | undefined => {
    const v = get(keyword);
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
  };
  const image = headers[0] as FitsHeader;
  const width = image.number('NAXIS1', 0);
  const height = image.number('NAXIS2', 0);
  const found: FoundHints = {};

  let wcs: Wcs | undefined;
  try {
    wcs = new Wcs(image, { width, height });
  } catch {
    wcs = undefined;
  }
  if (wcs && width > 0 && height > 0) {
    const { ra, dec } = wcs.center;
    if (Number.isFinite(ra) && Number.isFinite(dec)) found.position = { ra, dec, from: 'WCS (CRVAL)' };
  }
  if (!found.position) {
    const ra = sky(get('OBJCTRA'), parseRa, true);
    const dec = sky(get('OBJCTDEC'), parseDec, false);
    if (ra !== undefined && dec !== undefined) found.position = { ra, dec, from: 'OBJCTRA/OBJCTDEC' };
  }
  if (!found.position) {
    const ra = sky(get('RA'), parseRa, false);
    const dec = sky(get('DEC'), parseDec, false);
    if (ra !== undefined && dec !== undefined) found.position = { ra, dec, from: 'RA/DEC' };
  }

  const scale = (arcsecPerPixel: number | undefined, from: string) => {
    if (!found.scale && arcsecPerPixel !== undefined && arcsecPerPixel > 0 && arcsecPerPixel < 36_000) found.scale = { arcsecPerPixel, from };
  };
  if (wcs) scale(wcs.pixelScale, 'WCS (CD/CDELT)');
  scale(num('PIXSCALE'), 'PIXSCALE');
  scale(num('SECPIX'), 'SECPIX');
  const focal = num('FOCALLEN');
  if (focal !== undefined && focal > 0) {
    const binned = pixelMicrons(num('XPIXSZ'), num('YPIXSZ'));
    if (binned !== undefined) scale((ARCSEC_PER_RADIAN * binned) / 1000 / focal, 'FOCALLEN/XPIXSZ');
    const unbinned = pixelMicrons(num('PIXSIZE1'), num('PIXSIZE2'));
    const binning = num('XBINNING') ?? 1;
    if (unbinned !== undefined && binning >= 1) scale((ARCSEC_PER_RADIAN * unbinned * binning) / 1000 / focal, 'FOCALLEN/PIXSIZE1×XBINNING');
  }
  if (found.scale && width > 0 && height > 0) found.fieldRadius = (Math.hypot(width, height) / 2) * (found.scale.arcsecPerPixel / 3600);
  return found;
}

/** A pixel's size in µm from its two sides (their geometric mean when both are given). */
function pixelMicrons(x: number | undefined, y: number | undefined): number | undefined {
  if (x === undefined || !(x > 0)) return undefined;
  return y !== undefined && y > 0 ? Math.sqrt(x * y) : x;
}

/**
 * A coordinate card: a number is degrees, text is parsed. OBJCTRA is hours however it is
 * written: sexagesimal text, a number, or a number as text ('5.58'), which parseRa, made for
 * what people type, would read as degrees.
 */
function sky(value: unknown, parse: (text: string) => number | undefined, hours: boolean): number | undefined {
  if (typeof value === 'number') return hours ? fromHours(value) : Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (hours && DECIMAL.test(value.trim())) return fromHours(Number(value));
  const v = parse(value);
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Hours of right ascension in degrees; `undefined` outside 0–24 h. */
function fromHours(hours: number): number | undefined {
  return Number.isFinite(hours) && hours >= 0 && hours < 24 ? hours * 15 : undefined;
}

/** The first bytes of an input, or undefined when it has none here (a URL, a stream, a source list). */
async function headOf(input: SolveInput, size: number): Promise<Uint8Array | undefined> {
  if (typeof input === 'string') return /^https?:\/\//i.test(input) ? undefined : platform().readFileHead(input, size);
  if (typeof input !== 'object' || input === null || (typeof URL !== 'undefined' && input instanceof URL)) return undefined;
  if ('file' in input) return platform().readFileHead(input.file, size);
  if ('bytes' in input) return input.bytes.subarray(0, size);
  if ('blob' in input) return new Uint8Array(await input.blob.slice(0, size).arrayBuffer());
  return undefined;
}

/**
 * Inflates the start of a gzip stream, at most HEAD_BYTES: the header comes first and
 * compresses well. The stream is cut off, so its end is expected to be missing.
 */
async function inflateHead(bytes: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  const reader = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
  const out = new Uint8Array(maxBytes);
  let filled = 0;
  try {
    while (filled < maxBytes) {
      const next = await reader.read();
      if (next.done) break;
      const take = Math.min(next.value.length, maxBytes - filled);
      out.set(next.value.subarray(0, take), filled);
      filled += take;
    }
  } catch {
    // A stream cut short ends in an error: what was inflated so far is the head.
  } finally {
    void reader.cancel().catch(() => undefined);
  }
  return out.subarray(0, filled);
}
