/**
 * Upload options: what users write, validated once, and encoded the way nova reads them.
 *
 * nova validates nothing (docs/nova-protocol.md#upload-options): a bad string fails the job minutes later, a bad type
 * is an HTML 500, a typo is silently ignored and a zero is silently dropped. So every rule is
 * checked here, before any request, and the error names the option, the value and what is
 * allowed.
 */
import { ValidationError } from '../errors.js';

export type ScaleUnits = 'degwidth' | 'arcminwidth' | 'arcsecperpix' | 'focalmm';
export type Parity = 'positive' | 'negative' | 'both';
export type Licence = 'yes' | 'no' | 'default';
export type ModificationsLicence = 'yes' | 'share-alike' | 'no' | 'default';

export interface UploadOptions {
  /** List the image publicly on the website. Default `false`: private. */
  publiclyVisible?: boolean;
  /** Licence: may others use it commercially. Default `'default'` (the account's setting). */
  allowCommercialUse?: Licence;
  /** Licence: may others modify it. Default `'default'`. */
  allowModifications?: ModificationsLicence;
  /** Title of an existing album (matched across all users by nova). */
  album?: string;
  /** Units of the scale bounds or estimate. Default `'degwidth'`. */
  scaleUnits?: ScaleUnits;
  /** Lower bound of the scale, in `scaleUnits`; with `scaleUpper`. */
  scaleLower?: number;
  /** Upper bound of the scale, in `scaleUnits`. */
  scaleUpper?: number;
  /** Estimated scale, in `scaleUnits`; with `scaleError`. Exclusive with the bounds. */
  scaleEstimate?: number;
  /** Error of `scaleEstimate`, in percent. */
  scaleError?: number;
  /** Right ascension of the field centre, degrees in [0, 360). With `centerDec` and `radius`. */
  centerRa?: number;
  /** Declination of the field centre, degrees in [-90, 90]. */
  centerDec?: number;
  /** Search radius around the centre, degrees in (0, 180]. */
  radius?: number;
  /** Shrink the image by this integer factor before finding stars. Default on nova: 2. */
  downsampleFactor?: number;
  /** SIP polynomial order, 0 (no distortion fit) to 9. Default on nova: 2. */
  tweakOrder?: number;
  /** Find stars with Source Extractor instead of the built-in detector. */
  useSextractor?: boolean;
  /** Put the WCS reference point at the image centre. */
  crpixCenter?: boolean;
  /** Image parity to try. Default `'both'`. */
  parity?: Parity;
  /** Invert the image (dark stars on a light sky). */
  invert?: boolean;
  /** Image width in pixels, for source lists. */
  imageWidth?: number;
  /** Image height in pixels, for source lists. */
  imageHeight?: number;
  /** Expected star position error, pixels. */
  positionalError?: number;
}

/** The JSON nova reads from `request-json`, minus the session. */
export type WireUploadOptions = Record<string, string | number | boolean | number[]>;

type Rule = (name: string, value: unknown) => void;

const finite = (name: string, value: unknown, allowed: string, ok: (n: number) => boolean) => {
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) throw new ValidationError(name, value, allowed);
};
const positive: Rule = (n, v) => finite(n, v, 'a number greater than 0', (x) => x > 0);
const integerIn = (lo: number, hi: number): Rule => (n, v) =>
  finite(n, v, `an integer from ${lo} to ${hi}`, (x) => Number.isInteger(x) && x >= lo && x <= hi);
const oneOf = (choices: readonly string[]): Rule => (n, v) => {
  if (typeof v !== 'string' || !choices.includes(v)) throw new ValidationError(n, v, `one of ${choices.map((c) => `"${c}"`).join(', ')}`);
};
const bool: Rule = (n, v) => {
  if (typeof v !== 'boolean') throw new ValidationError(n, v, 'true or false');
};

const MAX_ALBUM_TITLE = 64;

// A null-prototype table: an option named `__proto__` or `toString` is unknown, not a rule.
const RULE_LIST: Record<keyof UploadOptions, Rule> = {
  publiclyVisible: bool,
  allowCommercialUse: oneOf(['yes', 'no', 'default']),
  allowModifications: oneOf(['yes', 'share-alike', 'no', 'default']),
  album: (n, v) => {
    // nova's album titles are at most 64 characters: a longer one can name no album.
    if (typeof v !== 'string' || v.trim() === '' || v.length > MAX_ALBUM_TITLE) {
      throw new ValidationError(n, typeof v === 'string' && v.length > MAX_ALBUM_TITLE ? `${v.slice(0, 20)}… (${v.length} characters)` : v, `the title of an existing album, 1 to ${MAX_ALBUM_TITLE} characters`);
    }
  },
  scaleUnits: oneOf(['degwidth', 'arcminwidth', 'arcsecperpix', 'focalmm']),
  scaleLower: positive,
  scaleUpper: positive,
  scaleEstimate: positive,
  scaleError: (n, v) => finite(n, v, 'a percentage greater than 0 and below 100', (x) => x > 0 && x < 100),
  centerRa: (n, v) => finite(n, v, 'degrees from 0 up to (not including) 360', (x) => x >= 0 && x < 360),
  centerDec: (n, v) => finite(n, v, 'degrees from -90 to 90', (x) => x >= -90 && x <= 90),
  radius: (n, v) => finite(n, v, 'degrees greater than 0, at most 180', (x) => x > 0 && x <= 180),
  downsampleFactor: integerIn(1, 64),
  tweakOrder: integerIn(0, 9),
  useSextractor: bool,
  crpixCenter: bool,
  parity: oneOf(['positive', 'negative', 'both']),
  invert: bool,
  imageWidth: integerIn(1, 1_000_000),
  imageHeight: integerIn(1, 1_000_000),
  positionalError: positive,
};
const RULES: Record<keyof UploadOptions, Rule> = Object.assign(Object.create(null) as Record<keyof UploadOptions, Rule>, RULE_LIST);

export const UPLOAD_OPTION_NAMES = Object.keys(RULES) as (keyof UploadOptions)[];

const LICENCE: Record<Licence, string> = { yes: 'y', no: 'n', default: 'd' };
const MODIFICATIONS: Record<ModificationsLicence, string> = { yes: 'y', 'share-alike': 'sa', no: 'n', default: 'd' };
const PARITY: Record<Parity, number> = { positive: 0, negative: 1, both: 2 };

// nova drops falsy numbers before building the solver's command line, so a centre on RA 0 or
// Dec 0 would silently lose the whole position hint. A shift of 1e-9 degrees (4 microarcsec)
// changes nothing astrometrically and survives.
const NOT_ZERO = 1e-9;

/** Validates options and returns the JSON nova expects. Throws ValidationError. */
export function encodeUploadOptions(options: UploadOptions | undefined): WireUploadOptions {
  const o: UploadOptions = options ?? {};
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ValidationError('options', o, 'an object of upload options');
  for (const [name, value] of Object.entries(o)) {
    const rule = Object.hasOwn(RULES, name) ? RULES[name as keyof UploadOptions] : undefined;
    if (typeof rule !== 'function') throw new ValidationError(name, value, `a known option: ${UPLOAD_OPTION_NAMES.join(', ')}`);
    if (value !== undefined) rule(name, value);
  }
  checkCombinations(o);

  const wire: WireUploadOptions = {
    publicly_visible: o.publiclyVisible ? 'y' : 'n',
    allow_commercial_use: LICENCE[o.allowCommercialUse ?? 'default'],
    allow_modifications: MODIFICATIONS[o.allowModifications ?? 'default'],
  };
  if (o.album !== undefined) wire.album = o.album;
  if (o.scaleUnits !== undefined) wire.scale_units = o.scaleUnits;
  if (o.scaleLower !== undefined || o.scaleUpper !== undefined) {
    wire.scale_type = 'ul';
    if (o.scaleLower !== undefined) wire.scale_lower = o.scaleLower;
    if (o.scaleUpper !== undefined) wire.scale_upper = o.scaleUpper;
  }
  if (o.scaleEstimate !== undefined) {
    wire.scale_type = 'ev';
    wire.scale_est = o.scaleEstimate;
    wire.scale_err = o.scaleError as number;
  }
  if (o.centerRa !== undefined && o.centerDec !== undefined) {
    wire.center_ra = o.centerRa === 0 ? NOT_ZERO : o.centerRa;
    wire.center_dec = o.centerDec === 0 ? NOT_ZERO : o.centerDec;
    wire.radius = o.radius as number;
  }
  if (o.downsampleFactor !== undefined) wire.downsample_factor = o.downsampleFactor;
  if (o.tweakOrder !== undefined) wire.tweak_order = o.tweakOrder;
  if (o.useSextractor !== undefined) wire.use_sextractor = o.useSextractor;
  if (o.crpixCenter !== undefined) wire.crpix_center = o.crpixCenter;
  if (o.parity !== undefined) wire.parity = PARITY[o.parity];
  if (o.invert !== undefined) wire.invert = o.invert;
  if (o.imageWidth !== undefined) wire.image_width = o.imageWidth;
  if (o.imageHeight !== undefined) wire.image_height = o.imageHeight;
  if (o.positionalError !== undefined) wire.positional_error = o.positionalError;
  return wire;
}

function checkCombinations(o: UploadOptions): void {
  const bounds = o.scaleLower !== undefined || o.scaleUpper !== undefined;
  const estimate = o.scaleEstimate !== undefined || o.scaleError !== undefined;
  if (bounds && estimate) {
    throw new ValidationError('scaleEstimate', o.scaleEstimate, 'either scaleLower/scaleUpper or scaleEstimate/scaleError, not both');
  }
  // nova's "ul" scale takes both bounds; one alone would be sent as a half-open range it cannot use.
  if (o.scaleLower !== undefined && o.scaleUpper === undefined) {
    throw new ValidationError('scaleUpper', o.scaleUpper, `a number above scaleLower (${o.scaleLower}): scaleLower and scaleUpper go together`);
  }
  if (o.scaleUpper !== undefined && o.scaleLower === undefined) {
    throw new ValidationError('scaleLower', o.scaleLower, `a number below scaleUpper (${o.scaleUpper}): scaleLower and scaleUpper go together`);
  }
  if (o.scaleLower !== undefined && o.scaleUpper !== undefined && o.scaleLower >= o.scaleUpper) {
    throw new ValidationError('scaleLower', o.scaleLower, `a number below scaleUpper (${o.scaleUpper})`);
  }
  if (o.scaleEstimate !== undefined && o.scaleError === undefined) {
    throw new ValidationError('scaleError', o.scaleError, 'a percentage, required with scaleEstimate');
  }
  if (o.scaleError !== undefined && o.scaleEstimate === undefined) {
    throw new ValidationError('scaleEstimate', o.scaleEstimate, 'a number, required with scaleError');
  }
  const centre = [o.centerRa, o.centerDec, o.radius].filter((v) => v !== undefined).length;
  if (centre !== 0 && centre !== 3) {
    const missing = o.centerRa === undefined ? 'centerRa' : o.centerDec === undefined ? 'centerDec' : 'radius';
    throw new ValidationError(missing, undefined, 'a value: centerRa, centerDec and radius go together');
  }
}
