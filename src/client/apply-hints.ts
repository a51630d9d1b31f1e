/**
 * How hints become upload options: a search radius from the field's size, a ±10 % scale range,
 * and the caller's own options kept first. Loaded with the header reader (header-hints.ts), the
 * batch machine and the CLI; a solve that reads no header never loads it.
 */
import type { Calibration } from '../protocol/models.js';
import { encodeUploadOptions, type UploadOptions, type WireUploadOptions } from '../protocol/upload-options.js';
import { HINT_WIRE_KEYS, type FoundHints, type PositionHint, type ScaleHint, type SolveHints } from './hints.js';

/** The scale range sent: ±10 % of the scale read. */
export const SCALE_TOLERANCE = 0.1;
/** The least margin added to the field's radius, degrees: a mount's pointing is rarely worse than this. */
export const MIN_RADIUS_MARGIN = 1;
/** The search radius when the field's size is not known (a position without optics), degrees. */
export const RADIUS_WITHOUT_SCALE = 5;

/**
 * The search radius around a hinted centre: the field's half diagonal, plus as much again (at
 * least a degree), since the pointing may be off by about a field.
 */
export function searchRadius(fieldRadius: number | undefined): number {
  if (fieldRadius === undefined || !(fieldRadius > 0)) return RADIUS_WITHOUT_SCALE;
  return Math.min(180, fieldRadius + Math.max(fieldRadius, MIN_RADIUS_MARGIN));
}


const POSITION_OPTIONS = ['centerRa', 'centerDec', 'radius'] as const;
const SCALE_OPTIONS = ['scaleUnits', 'scaleLower', 'scaleUpper', 'scaleEstimate', 'scaleError'] as const;

/** The hints to send of what was found, leaving out what the caller gave itself. */
function chooseHints(found: FoundHints, own: { position: boolean; scale: boolean }, strict: boolean): SolveHints | null {
  const position: PositionHint | null =
    found.position && !own.position ? { ...normalise(found.position), radius: round(searchRadius(found.fieldRadius)), from: found.position.from } : null;
  const scale: ScaleHint | null =
    found.scale && !own.scale && found.scale.arcsecPerPixel > 0
      ? { lower: round(found.scale.arcsecPerPixel * (1 - SCALE_TOLERANCE)), upper: round(found.scale.arcsecPerPixel * (1 + SCALE_TOLERANCE)), from: found.scale.from }
      : null;
  return position || scale ? { position, scale, strict, retryOf: null } : null;
}

/** The upload options a hint sets. */
function hintOptions(hints: SolveHints): UploadOptions {
  const out: UploadOptions = {};
  if (hints.position) Object.assign(out, { centerRa: hints.position.ra, centerDec: hints.position.dec, radius: hints.position.radius });
  if (hints.scale) Object.assign(out, { scaleUnits: 'arcsecperpix', scaleLower: hints.scale.lower, scaleUpper: hints.scale.upper });
  return out;
}

/**
 * The options to send and the hints they carry. The caller's options win: a position given (any
 * of centerRa, centerDec, radius) keeps the hinted one out, and so does any scale option.
 */
export function applyHints<O extends UploadOptions>(options: O, found: FoundHints, strict: boolean): { options: O; hints: SolveHints | null } {
  const own = { position: POSITION_OPTIONS.some((k) => options[k] !== undefined), scale: SCALE_OPTIONS.some((k) => options[k] !== undefined) };
  const hints = chooseHints(found, own, strict);
  return hints ? { options: { ...options, ...hintOptions(hints) }, hints } : { options, hints: null };
}

/**
 * The same on options already encoded (a batch item's): what earlier hints set (`hints`) is
 * replaced, what the caller set stays. A sequence uses it to hint a frame by the one before.
 */
export function applyHintsToWire(
  options: WireUploadOptions,
  earlier: SolveHints | null | undefined,
  found: FoundHints,
  strict: boolean,
): { options: WireUploadOptions; hints: SolveHints | null } {
  const own = {
    position: HINT_WIRE_KEYS.position.some((k) => options[k] !== undefined) && !earlier?.position,
    scale: HINT_WIRE_KEYS.scale.some((k) => options[k] !== undefined) && !earlier?.scale,
  };
  const chosen = chooseHints(found, own, strict);
  if (!chosen) return { options, hints: earlier ?? null };
  // A hint not replaced (its kind not found now) is still sent, so still reported.
  const hints: SolveHints = { ...chosen, position: chosen.position ?? earlier?.position ?? null, scale: chosen.scale ?? earlier?.scale ?? null };
  const replaced = new Set<string>([...(chosen.position ? HINT_WIRE_KEYS.position : []), ...(chosen.scale ? HINT_WIRE_KEYS.scale : [])]);
  const out: WireUploadOptions = {};
  for (const [k, v] of Object.entries(options)) if (!replaced.has(k)) out[k] = v;
  // Encoded as any option is (a centre on RA 0 must not be dropped by nova), then only the hint's keys taken.
  const encoded = encodeUploadOptions(hintOptions(chosen));
  for (const k of replaced) if (encoded[k] !== undefined) out[k] = encoded[k] as WireUploadOptions[string];
  return { options: out, hints };
}

/** What a solved frame tells the next one of a sequence: its centre, its radius and its scale. */
export function hintsFromCalibration(calibration: Calibration): FoundHints {
  return {
    position: { ra: calibration.ra, dec: calibration.dec, from: 'previous frame' },
    scale: { arcsecPerPixel: calibration.pixscale, from: 'previous frame' },
    fieldRadius: calibration.radius,
  };
}


/** A few words for a person: `position from OBJCTRA/OBJCTDEC (±2.1°), scale from FOCALLEN/XPIXSZ`. */
export function describeHints(hints: SolveHints | null | undefined): string {
  if (!hints) return '';
  const parts: string[] = [];
  if (hints.position) parts.push(`position from ${hints.position.from} (±${hints.position.radius.toFixed(1)}°)`);
  if (hints.scale) parts.push(`scale from ${hints.scale.from} (${hints.scale.lower.toFixed(2)}–${hints.scale.upper.toFixed(2)}"/px)`);
  const text = parts.join(', ');
  return hints.retryOf ? `blind retry (the solve hinted by ${text} failed)` : `hinted: ${text}`;
}

function normalise(p: { ra: number; dec: number }): { ra: number; dec: number } {
  return { ra: ((p.ra % 360) + 360) % 360, dec: Math.max(-90, Math.min(90, p.dec)) };
}

/** Six decimals: well below an arcsecond, and a short request. */
function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
