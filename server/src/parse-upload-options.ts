/**
 * Upload options, converted exactly as nova's `upload_common` does (docs/nova-protocol.md#upload-options):
 * bare Python `str/float/int/bool` per key, unknown keys ignored, no range checks. A failed
 * conversion raises (an HTML 500 upstream). Constraint failures that production's PostgreSQL
 * would raise on `sub.save()` (over-long CharFields, negative positive-integer fields, int
 * overflow) also raise, so clients meet the same 500s here.
 */
import type { ParsedUploadOptions } from './solver-backend.js';
import { PyError, pyBool, pyFloatOf, pyInt, pyStr, type PyDict, type PyValue } from './python.js';

type Conv = 'str' | 'float' | 'int' | 'bool';

/** nova's conversion table, in its order (`net/api.py` upload_common). */
const CONVERSIONS: readonly (readonly [keyof ParsedUploadOptions, Conv])[] = [
  ['scale_units', 'str'],
  ['scale_type', 'str'],
  ['scale_lower', 'float'],
  ['scale_upper', 'float'],
  ['scale_est', 'float'],
  ['scale_err', 'float'],
  ['center_ra', 'float'],
  ['center_dec', 'float'],
  ['radius', 'float'],
  ['tweak_order', 'int'],
  ['downsample_factor', 'int'],
  ['use_sextractor', 'bool'],
  ['crpix_center', 'bool'],
  ['invert', 'bool'],
  ['parity', 'int'],
  ['image_width', 'int'],
  ['image_height', 'int'],
  ['positional_error', 'float'],
];

/** Submission model defaults for omitted keys (docs/nova-protocol.md#upload-options "Default when omitted"). */
export const MODEL_DEFAULTS: Readonly<ParsedUploadOptions> = {
  scale_units: 'degwidth',
  scale_type: 'ul',
  scale_lower: 0.1,
  scale_upper: 180,
  downsample_factor: 2,
  tweak_order: 2,
  use_sextractor: false,
  crpix_center: false,
  invert: false,
  parity: 2,
  image_width: 0,
  image_height: 0,
};

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
/** PostgreSQL column ranges: PositiveIntegerField / PositiveSmallIntegerField / IntegerField. */
const INT_RANGES: Partial<Record<keyof ParsedUploadOptions, readonly [bigint, bigint]>> = {
  downsample_factor: [0n, INT32_MAX],
  parity: [0n, 32767n],
  image_width: [0n, INT32_MAX],
  image_height: [0n, INT32_MAX],
  tweak_order: [INT32_MIN, INT32_MAX],
};

/** Converts the recognised keys; throws PyError where nova would answer HTML 500. */
export function convertOptions(json: PyDict): ParsedUploadOptions {
  const out: Record<string, string | number | boolean> = {};
  for (const [key, conv] of CONVERSIONS) {
    if (!json.has(key)) continue;
    const v = json.get(key) as PyValue;
    switch (conv) {
      case 'str':
        out[key] = pyStr(v);
        break;
      case 'float':
        out[key] = pyFloatOf(v);
        break;
      case 'bool':
        out[key] = pyBool(v);
        break;
      case 'int': {
        const n = pyInt(v);
        const range = INT_RANGES[key] ?? [INT32_MIN, INT32_MAX];
        if (n < range[0] || n > range[1]) {
          throw new PyError('DataError', `value out of range for column ${key}`);
        }
        out[key] = Number(n);
        break;
      }
    }
  }
  return out as ParsedUploadOptions;
}

/** A CharField written from JSON: `None` violates NOT NULL, too long violates the length. */
export function charField(json: PyDict, key: string, fallback: string, maxLength: number): string {
  if (!json.has(key)) return fallback;
  const v = json.get(key) as PyValue;
  if (v === null) throw new PyError('IntegrityError', `null value in column "${key}"`);
  const s = pyStr(v);
  if (s.length > maxLength) {
    throw new PyError('DataError', `value too long for type character varying(${maxLength})`);
  }
  return s;
}

/**
 * What the solver gets: model defaults, then the upload's values, then nova's
 * "only truthy values reach the command line" rule (docs/nova-protocol.md#zeros-are-dropped). `parity` and
 * `tweak_order` are kept at 0 because nova maps 0 to `--parity pos` / `--no-tweak` explicitly.
 */
export function solverOptions(converted: ParsedUploadOptions): ParsedUploadOptions {
  const merged: Record<string, unknown> = { ...MODEL_DEFAULTS, ...converted };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(merged)) {
    if (k === 'parity' || k === 'tweak_order') out[k] = v;
    else if (v !== 0 && v !== false && v !== '' && v !== undefined) out[k] = v;
  }
  return out as ParsedUploadOptions;
}
