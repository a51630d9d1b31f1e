/**
 * Hints: where a field probably points and how big its pixels are, sent with the upload so the
 * solver searches a small part of the sky at one scale instead of all of it. They come from a
 * FITS header (src/client/header-hints.ts reads it) or, in a sequence, from the frame solved
 * before. This module is the small part every solve needs (what a hint is, the option's check,
 * how a failed hinted solve is tried again blind); how hints become options is in
 * apply-hints.ts, loaded with the header reader or the batch, so the browser bundle of Client
 * stays small.
 */
import { ValidationError } from '../errors.js';
import type { WireUploadOptions } from '../protocol/upload-options.js';
import type { SolveInput } from './solve-input.js';

/**
 * `true` (default): hint from the header, and when a hinted solve fails, solve once more with no
 * hint. `'strict'`: hint, and a failure stays a failure. `false`: read no header, send no hint.
 */
export type HeaderHintsMode = boolean | 'strict';

/** Where the field points, and how far from it the solver looks. */
export interface PositionHint {
  /** Degrees, [0, 360). */
  ra: number;
  /** Degrees, [-90, 90]. */
  dec: number;
  /** Search radius, degrees: the field's half diagonal plus a margin for the pointing's error. */
  radius: number;
  /** Where it came from: header keywords (`OBJCTRA/OBJCTDEC`, `RA/DEC`, `CRVAL1/CRVAL2`) or `previous frame`. */
  from: string;
}

/** The pixel scale, as a range of arcseconds per pixel (±10 % around what was read). */
export interface ScaleHint {
  lower: number;
  upper: number;
  /** Where it came from: `FOCALLEN/XPIXSZ`, `PIXSCALE`, `SECPIX`, `CDELT/CD (WCS)` or `previous frame`. */
  from: string;
}

/** The hints a solve was sent with, kept with its upload and shown in its view (`SolveView.hints`). */
export interface SolveHints {
  /** `null`: none was sent (none found, or the caller gave the position). */
  position: PositionHint | null;
  /** `null`: none was sent (none found, or the caller gave a scale). */
  scale: ScaleHint | null;
  /** A failure is final (`headerHints: 'strict'`): no blind retry. */
  strict: boolean;
  /**
   * This upload is the blind retry of a hinted solve that failed: sent again with no hint. The
   * failed attempt's ids are here; `position` and `scale` are what the failed attempt had.
   */
  retryOf: { subid: number | null; jobId: number | null } | null;
}

/** What a header or a previous frame gives, before the caller's own options are weighed. */
export interface FoundHints {
  position?: { ra: number; dec: number; from: string };
  /** Arcseconds per pixel. */
  scale?: { arcsecPerPixel: number; from: string };
  /** The field's half diagonal, degrees, when the size and scale are known. */
  fieldRadius?: number;
}

/** Checks `headerHints` at the edge. */
export function checkHeaderHints(value: unknown): HeaderHintsMode {
  if (value === undefined) return true;
  if (value === true || value === false || value === 'strict') return value;
  throw new ValidationError('headerHints', value, "true, false or 'strict'");
}

/** The wire keys the hints set (encodeUploadOptions' names), removed for a blind retry. */
export const HINT_WIRE_KEYS = {
  position: ['center_ra', 'center_dec', 'radius'],
  scale: ['scale_units', 'scale_type', 'scale_lower', 'scale_upper', 'scale_est', 'scale_err'],
} as const;

/** Whether a failure of this hinted upload is followed by a blind one (so an in-memory input's bytes are kept until then). */
export function mayRetryBlind(hints: SolveHints | null | undefined): boolean {
  return !!hints && !hints.strict && hints.retryOf === null && (hints.position !== null || hints.scale !== null);
}

/**
 * The options and hints of the blind retry of a hinted solve that failed, or `null` when there
 * is none to make: nothing was hinted, the hints were strict, or this was the retry already.
 * Everything the hints set is dropped, the scale too: a header's optics can be as wrong as its
 * pointing (a binning counted twice), and a retry that kept them would fail the same way.
 */
export function blindRetry(
  options: WireUploadOptions,
  hints: SolveHints | null | undefined,
  failed: { subid: number | null; jobId: number | null },
): { options: WireUploadOptions; hints: SolveHints } | null {
  if (!hints || !mayRetryBlind(hints)) return null;
  const drop = new Set<string>([...(hints.position ? HINT_WIRE_KEYS.position : []), ...(hints.scale ? HINT_WIRE_KEYS.scale : [])]);
  const out: WireUploadOptions = {};
  for (const [k, v] of Object.entries(options)) if (!drop.has(k)) out[k] = v;
  return { options: out, hints: { ...hints, retryOf: { subid: failed.subid, jobId: failed.jobId } } };
}

/** Error codes after which a blind retry can help: the solver ran and found nothing. */
export const RETRY_BLIND_ON: readonly string[] = ['job_failed'];

/** Whether an input may be a FITS file with a header to read (a URL, a stream, a PNG or a source list has none). */
export function mayHaveHeader(input: SolveInput): boolean {
  if (typeof input === 'string') return !/^https?:\/\//i.test(input) && !NOT_FITS_NAME.test(input);
  if (typeof input !== 'object' || input === null || (typeof URL !== 'undefined' && input instanceof URL)) return false;
  if ('file' in input) return !NOT_FITS_NAME.test(input.file);
  // Bytes tell by their first ones: a FITS header, or gzip (a .fits.gz).
  if ('bytes' in input) return input.bytes instanceof Uint8Array && (startsWith(input.bytes, FITS_MAGIC) || startsWith(input.bytes, GZIP_MAGIC));
  if ('blob' in input) return !NOT_FITS_NAME.test(input.filename ?? (input.blob as { name?: string }).name ?? '');
  return false;
}

/**
 * Names that are surely not FITS: a PNG or JPEG has no header to read, and solving one should not
 * load the FITS reader (a new process solving one PNG would pay for it).
 */
const NOT_FITS_NAME = /\.(png|jpe?g|gif|tiff?|bmp|webp|avif|heic)$/i;
const FITS_MAGIC = [0x53, 0x49, 0x4d, 0x50, 0x4c, 0x45]; // "SIMPLE"
const GZIP_MAGIC = [0x1f, 0x8b];
const startsWith = (bytes: Uint8Array, magic: readonly number[]) => magic.every((b, i) => bytes[i] === b);
