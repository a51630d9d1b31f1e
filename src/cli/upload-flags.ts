/**
 * The upload flags of `solve`, turned into the library's UploadOptions and validated by it.
 *
 * The CLI checks only what the library cannot see (how a coordinate is written, the focal
 * length shortcut, conflicting flags); every value is then validated by
 * `encodeUploadOptions`, whose ValidationError names the option, the value and what is
 * allowed. The CLI adds the flag's spelling to that message.
 */
import { ValidationError } from '../errors.js';
import { encodeUploadOptions, type UploadOptions, type WireUploadOptions } from '../protocol/upload-options.js';
import { UsageError, type FlagSpec, type Flags } from './args.js';
import { parseDec, parseRa } from '../wcs/sexagesimal.js';

export const UPLOAD_FLAGS: readonly FlagSpec[] = [
  { name: 'scale-units', type: 'string' },
  { name: 'scale-low', type: 'string' },
  { name: 'scale-high', type: 'string' },
  { name: 'scale-est', type: 'string' },
  { name: 'scale-err', type: 'string' },
  { name: 'focal-length', type: 'string' },
  { name: 'pixel-size', type: 'string' },
  { name: 'ra', type: 'string' },
  { name: 'dec', type: 'string' },
  { name: 'radius', type: 'string' },
  { name: 'downsample', type: 'string' },
  { name: 'tweak-order', type: 'string' },
  { name: 'parity', type: 'string' },
  { name: 'crpix-center', type: 'boolean' },
  { name: 'invert', type: 'boolean' },
  { name: 'use-sextractor', type: 'boolean' },
  { name: 'positional-error', type: 'string' },
  { name: 'public', type: 'boolean' },
  { name: 'private', type: 'boolean' },
  { name: 'allow-commercial', type: 'string' },
  { name: 'allow-modifications', type: 'string' },
  { name: 'album', type: 'string' },
  { name: 'image-width', type: 'string' },
  { name: 'image-height', type: 'string' },
];

/** Library option name → the flag a user typed. */
export const FLAG_OF_OPTION: Readonly<Record<keyof UploadOptions, string>> = {
  publiclyVisible: '--public',
  allowCommercialUse: '--allow-commercial',
  allowModifications: '--allow-modifications',
  album: '--album',
  scaleUnits: '--scale-units',
  scaleLower: '--scale-low',
  scaleUpper: '--scale-high',
  scaleEstimate: '--scale-est',
  scaleError: '--scale-err',
  centerRa: '--ra',
  centerDec: '--dec',
  radius: '--radius',
  downsampleFactor: '--downsample',
  tweakOrder: '--tweak-order',
  useSextractor: '--use-sextractor',
  crpixCenter: '--crpix-center',
  parity: '--parity',
  invert: '--invert',
  imageWidth: '--image-width',
  imageHeight: '--image-height',
  positionalError: '--positional-error',
};

/** A number when the text is one, else the text itself, so the library's error shows what was typed. */
function numeric(raw: string | undefined): number | string | undefined {
  if (raw === undefined) return undefined;
  const t = raw.trim();
  return t !== '' && Number.isFinite(Number(t)) ? Number(t) : raw;
}

const PARITY: Record<string, UploadOptions['parity']> = {
  pos: 'positive',
  positive: 'positive',
  neg: 'negative',
  negative: 'negative',
  both: 'both',
};

const MODIFICATIONS_ALIASES: Record<string, string> = { sa: 'share-alike' };

export interface EncodedUploadFlags {
  options: UploadOptions;
  wire: WireUploadOptions;
}

/** Reads the upload flags; throws ValidationError (bad value) or UsageError (bad combination). */
export function uploadOptionsFromFlags(flags: Flags): EncodedUploadFlags {
  const o: Record<string, unknown> = {};
  const put = (key: keyof UploadOptions, value: unknown) => {
    if (value !== undefined) o[key] = value;
  };

  if (flags.bool('public') && flags.bool('private')) throw new UsageError('--public and --private contradict each other: give one.');
  if (flags.has('public')) put('publiclyVisible', flags.bool('public'));
  else if (flags.has('private')) put('publiclyVisible', !flags.bool('private'));
  put('allowCommercialUse', flags.string('allow-commercial'));
  const mods = flags.string('allow-modifications');
  put('allowModifications', mods === undefined ? undefined : (MODIFICATIONS_ALIASES[mods] ?? mods));
  put('album', flags.string('album'));

  const focal = flags.string('focal-length');
  const pixel = flags.string('pixel-size');
  if (focal !== undefined || pixel !== undefined) {
    if (focal === undefined || pixel === undefined) {
      throw new UsageError('--focal-length and --pixel-size go together: give both (millimetres and micrometres).');
    }
    for (const f of ['scale-units', 'scale-low', 'scale-high', 'scale-est', 'scale-err']) {
      if (flags.has(f)) throw new UsageError(`--focal-length/--pixel-size stand in for the scale: drop --${f}, or drop them.`);
    }
    const mm = Number(focal);
    const um = Number(pixel);
    if (!(focal.trim() !== '' && Number.isFinite(mm) && mm > 0)) {
      throw new ValidationError('--focal-length', focal, 'a focal length in millimetres, greater than 0');
    }
    if (!(pixel.trim() !== '' && Number.isFinite(um) && um > 0)) {
      throw new ValidationError('--pixel-size', pixel, 'a pixel size in micrometres, greater than 0');
    }
    const arcsecPerPixel = (206.265 * um) / mm;
    put('scaleUnits', 'arcsecperpix');
    put('scaleLower', round(arcsecPerPixel * 0.9));
    put('scaleUpper', round(arcsecPerPixel * 1.1));
  } else {
    put('scaleUnits', flags.string('scale-units'));
    put('scaleLower', numeric(flags.string('scale-low')));
    put('scaleUpper', numeric(flags.string('scale-high')));
    put('scaleEstimate', numeric(flags.string('scale-est')));
    put('scaleError', numeric(flags.string('scale-err')));
  }

  const ra = flags.string('ra');
  if (ra !== undefined) {
    const deg = parseRa(ra);
    if (deg === undefined) {
      throw new ValidationError('centerRa', ra, 'degrees (83.82), or hours as 05:35:17.3 or 5h35m17.3s');
    }
    put('centerRa', deg);
  }
  const dec = flags.string('dec');
  if (dec !== undefined) {
    const deg = parseDec(dec);
    if (deg === undefined) {
      throw new ValidationError('centerDec', dec, 'degrees (-5.39), or -05:23:28 or -5d23m28s');
    }
    put('centerDec', deg);
  }
  put('radius', numeric(flags.string('radius')));
  put('downsampleFactor', numeric(flags.string('downsample')));
  put('tweakOrder', numeric(flags.string('tweak-order')));
  const parity = flags.string('parity');
  if (parity !== undefined) {
    const p = PARITY[parity.toLowerCase()];
    if (!p) throw new ValidationError('parity', parity, 'one of "pos", "neg", "both"');
    put('parity', p);
  }
  if (flags.has('crpix-center')) put('crpixCenter', flags.bool('crpix-center'));
  if (flags.has('invert')) put('invert', flags.bool('invert'));
  if (flags.has('use-sextractor')) put('useSextractor', flags.bool('use-sextractor'));
  put('positionalError', numeric(flags.string('positional-error')));
  put('imageWidth', numeric(flags.string('image-width')));
  put('imageHeight', numeric(flags.string('image-height')));

  const options = o as UploadOptions;
  return { options, wire: encodeUploadOptions(options) };
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/** The library's validation message with the flag's spelling added: `Invalid option scaleLower (--scale-low): -1. Allowed: ...`. */
export function describeValidationError(error: ValidationError): string {
  if (error.option.startsWith('--')) return error.message;
  const flag = FLAG_OF_OPTION[error.option as keyof UploadOptions];
  if (!flag) return error.message;
  return error.message.replace(`Invalid option ${error.option}:`, `Invalid option ${error.option} (${flag}):`);
}
