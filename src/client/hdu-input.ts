/**
 * The `hdu` option: which image HDUs of a multi-extension FITS file to solve. Each is cut out
 * as a FITS file of its own (its header and data, made a primary HDU) and solved as bytes, so
 * the machine sees an ordinary upload. Loaded only by solves that ask for an HDU.
 *
 * HDUs are numbered from 0 (the primary), as cfitsio (`file.fits[1]`) and astropy number them.
 */
import { ValidationError } from '../errors.js';
import { describeHdu, extractHdu, imageHduNumbers, isFits, isGzip, readHdus } from '../fits/index.js';
import { platform } from '../platform/web-platform.js';
import { DEFAULT_MAX_PIXELS, gunzip } from '../extract/gunzip.js';
import type { SolveInput } from './solve-input.js';

/** Which HDUs: one by number, or every one that holds a 2-D image. */
export type HduSelection = number | 'all';

/** One HDU of the input, ready to solve. */
export interface HduPart {
  hdu: number;
  input: { bytes: Uint8Array; filename: string };
}

const ALLOWED = "an HDU number (0 is the primary HDU) or 'all' (every HDU holding a 2-D image)";

/** Checks the option's form alone (before the file is read). */
export function checkHduOption(value: unknown): HduSelection {
  if (value === 'all') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new ValidationError('hdu', value, ALLOWED);
}

/**
 * The input's bytes (a path, `{ file }`, `{ bytes }` or `{ blob }`), gunzipped within the budget
 * of an image of `maxPixels` (a bomb is ImageError `image_too_large`), and a name for messages.
 */
async function fitsBytesOf(input: SolveInput, hdu: HduSelection, maxPixels: number): Promise<{ bytes: Uint8Array; name: string }> {
  let bytes: Uint8Array | undefined;
  let name = 'the input';
  if (typeof input === 'string' && !/^https?:\/\//i.test(input)) input = { file: input };
  if (typeof input === 'object' && input !== null && !(typeof URL !== 'undefined' && input instanceof URL)) {
    if ('file' in input) {
      bytes = await platform().readFile(input.file);
      name = input.file;
    } else if ('bytes' in input && input.bytes instanceof Uint8Array) {
      bytes = input.bytes;
      name = input.filename ?? name;
    } else if ('blob' in input && typeof Blob !== 'undefined' && input.blob instanceof Blob) {
      bytes = new Uint8Array(await input.blob.arrayBuffer());
      name = input.filename ?? name;
    }
  }
  if (!bytes) throw new ValidationError('hdu', hdu, `${ALLOWED}, of a FITS file given as a path, { file }, { bytes } or { blob } (a URL, a stream or a source list has no HDUs here)`);
  // Every HDU is kept: the one asked for may follow an image in the primary.
  if (isGzip(bytes)) bytes = await gunzip(bytes, { maxPixels, wholeFile: true });
  if (!isFits(bytes)) throw new ValidationError('hdu', hdu, `${ALLOWED}, of a FITS file: ${name} is not one`);
  return { bytes, name };
}

/**
 * The HDUs an `hdu` option picks in a FITS file, checked: a number must name an HDU with a 2-D
 * image, and the error lists the ones there are.
 */
export function selectHdus(bytes: Uint8Array, hdu: HduSelection, name: string): number[] {
  const images = imageHduNumbers(bytes);
  if (hdu === 'all' && images.length > 0) return images;
  if (hdu !== 'all' && images.includes(hdu)) return [hdu];
  const hdus = readHdus(bytes);
  const there = hdus.map((h, i) => `${i}: ${describeHdu(h, i)}`).join('; ');
  const found = images.length === 0 ? `${name} has no HDU with a 2-D image` : `the image HDUs of ${name} are ${images.join(', ')}`;
  throw new ValidationError('hdu', hdu, `${hdu === 'all' ? 'a FITS file with an image HDU' : 'an HDU holding a 2-D image'}: ${found} (HDUs ${there})`);
}

/** The input's selected HDUs, each as a FITS file of its own; a .fits.gz inflates within the budget of `maxPixels`. */
export async function hduParts(input: SolveInput, hdu: unknown, maxPixels = DEFAULT_MAX_PIXELS): Promise<HduPart[]> {
  const selection = checkHduOption(hdu);
  const { bytes, name } = await fitsBytesOf(input, selection, maxPixels);
  const base = (name.split(/[\\/]/).pop() ?? 'image').replace(/\.(fits|fit|fts)(\.gz)?$/i, '') || 'image';
  return selectHdus(bytes, selection, name).map((n) => ({ hdu: n, input: { bytes: extractHdu(bytes, n), filename: `${base}.hdu${n}.fits` } }));
}
