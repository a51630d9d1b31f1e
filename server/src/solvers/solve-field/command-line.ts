/**
 * Upload options to solve-field arguments, the way nova builds its augment-xylist command line
 * (`net/process_submissions.py` dojob): every value is passed only when truthy, so `0` drops out.
 */
import type { ParsedUploadOptions } from '../../solver-backend.js';

/** Scale units augment-xylist accepts (case-insensitive), mapped to solve-field's spelling. */
const SCALE_UNITS: Record<string, string> = {
  degwidth: 'degwidth',
  degw: 'degwidth',
  dw: 'degwidth',
  arcminwidth: 'arcminwidth',
  amw: 'arcminwidth',
  aw: 'arcminwidth',
  arcsecperpix: 'arcsecperpix',
  app: 'arcsecperpix',
  focalmm: 'focalmm',
};

/** A job that nova would fail before (or while) building the solver command. */
export class OptionError extends Error {
  override name = 'OptionError';
}

/** Format a number for the argv; refuses anything that is not finite. */
export function formatNumber(name: string, value: unknown): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new OptionError(`option ${name} is not a finite number: ${String(value)}`);
  }
  // Shortest round-trip form; exponents ("1e-7") are read fine by the C side's atof/strtod.
  return Object.is(value, -0) ? '0' : String(value);
}

/** `int()` as nova applies it: truncation towards zero. */
function formatInt(name: string, value: unknown): string {
  formatNumber(name, value);
  return formatNumber(name, Math.trunc(value as number));
}

/** Python truthiness of an already-parsed option value. */
function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return false;
  // NaN is truthy in Python too; it is then refused by formatNumber.
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') return value.length > 0;
  return true;
}

export interface SolveArgsContext {
  kind: 'image' | 'xylist';
  /** For xylists: the field size nova uses (image_width/height override the computed size). */
  xylistSize?: { width: number; height: number };
  /** For xylists: the table's actual x/y column names. */
  xColumn?: string;
  yColumn?: string;
}

/** solve-field arguments derived from the upload options (not the file names or limits). */
export function optionArgs(options: ParsedUploadOptions, ctx: SolveArgsContext): string[] {
  const args: string[] = [];
  const o = options;

  // Scale: nova's Submission.get_scale_bounds(); anything but ul/ev fails the job (TypeError).
  const scaleType = o.scale_type ?? 'ul';
  let lower: unknown;
  let upper: unknown;
  if (scaleType === 'ul') {
    lower = o.scale_lower;
    upper = o.scale_upper;
  } else if (scaleType === 'ev') {
    if (o.scale_est === undefined || o.scale_est === null || o.scale_err === undefined || o.scale_err === null) {
      throw new OptionError('scale_type "ev" needs scale_est and scale_err');
    }
    const est = Number(formatNumber('scale_est', o.scale_est));
    const err = Number(formatNumber('scale_err', o.scale_err));
    lower = est * (1 - err / 100);
    upper = est * (1 + err / 100);
  } else {
    throw new OptionError(`scale_type must be "ul" or "ev", not ${JSON.stringify(scaleType)}`);
  }
  if (truthy(lower)) args.push('--scale-low', formatNumber('scale_lower', lower));
  if (truthy(upper)) args.push('--scale-high', formatNumber('scale_upper', upper));
  if (truthy(o.scale_units)) {
    const units = SCALE_UNITS[String(o.scale_units).toLowerCase()];
    if (!units) throw new OptionError(`unknown scale_units ${JSON.stringify(o.scale_units)}`);
    args.push('--scale-units', units);
  }

  if (truthy(o.positional_error)) args.push('--pixel-error', formatNumber('positional_error', o.positional_error));
  if (truthy(o.center_ra)) args.push('--ra', formatNumber('center_ra', o.center_ra));
  if (truthy(o.center_dec)) args.push('--dec', formatNumber('center_dec', o.center_dec));
  if (truthy(o.radius)) args.push('--radius', formatNumber('radius', o.radius));
  if (truthy(o.downsample_factor)) {
    const d = formatInt('downsample_factor', o.downsample_factor);
    if (d !== '0') args.push('--downsample', d);
  }

  if (ctx.kind === 'xylist') {
    const size = ctx.xylistSize;
    if (size) {
      if (truthy(size.width)) args.push('--width', formatInt('image_width', size.width));
      if (truthy(size.height)) args.push('--height', formatInt('image_height', size.height));
    }
    if (ctx.xColumn) args.push('--x-column', ctx.xColumn);
    if (ctx.yColumn) args.push('--y-column', ctx.yColumn);
  }

  if (o.parity !== undefined && o.parity !== null) {
    const p = Number(formatInt('parity', o.parity));
    if (p === 0) args.push('--parity', 'pos');
    else if (p === 1) args.push('--parity', 'neg');
  }

  if (o.tweak_order !== undefined && o.tweak_order !== null) {
    const t = formatInt('tweak_order', o.tweak_order);
    if (t === '0') args.push('--no-tweak');
    else args.push('--tweak-order', t);
  }

  if (truthy(o.use_sextractor)) args.push('--use-source-extractor');
  if (truthy(o.crpix_center)) args.push('--crpix-center');
  if (truthy(o.invert)) args.push('--invert');
  return args;
}
