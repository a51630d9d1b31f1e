/**
 * Decoders from nova's JSON to the typed models.
 *
 * They are strict about what a client relies on (ids are integers, status is a string) and
 * lenient about what nova varies (timestamps with or without `+00:00`, the literal "None").
 * A shape that cannot be trusted is an UnexpectedContentError, not a half-filled object.
 */
import { UnexpectedContentError } from '../errors.js';
import type { Calibration, JobStatus, SubmissionStatus, UploadResult } from './models.js';

type Json = Record<string, unknown>;

export function bad(what: string, url: string, json: unknown): UnexpectedContentError {
  return new UnexpectedContentError(what, {
    url,
    status: 200,
    contentType: 'text/plain',
    bodyStart: JSON.stringify(json).slice(0, 120),
  });
}

export function int(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}

export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export function ints(value: unknown): number[] {
  return Array.isArray(value) ? value.filter((v): v is number => int(v) !== undefined) : [];
}

/** nova prints `str(datetime)`: naive UTC, or with `+00:00` on newer Django; unset is "None". */
export function parseNovaTime(value: unknown): string | null {
  if (typeof value !== 'string' || value === 'None' || value === '') return null;
  const match = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(value.trim());
  if (!match) return null;
  const fraction = match[3] ? match[3].slice(0, 4) : '';
  const zone = match[4] ?? 'Z';
  const date = new Date(`${match[1]}T${match[2]}${fraction}${zone}`);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

export function decodeLogin(json: Json, url: string): { session: string; message: string } {
  if (typeof json.session !== 'string' || json.session === '') throw bad('a session key', url, { ...json, session: '?' });
  return { session: json.session, message: typeof json.message === 'string' ? json.message : '' };
}

export function decodeUpload(json: Json, url: string): UploadResult {
  const subid = int(json.subid);
  if (subid === undefined) throw bad('a submission id', url, json);
  return typeof json.hash === 'string' ? { subid, hash: json.hash } : { subid };
}

export function decodeSubmission(json: Json, url: string): SubmissionStatus {
  if (!Array.isArray(json.jobs) || !Array.isArray(json.user_images)) throw bad('a submission status', url, json);
  const jobs = json.jobs.map((j) => int(j) ?? null);
  const pairs: [number, number][] = [];
  if (Array.isArray(json.job_calibrations)) {
    for (const pair of json.job_calibrations) {
      if (Array.isArray(pair) && int(pair[0]) !== undefined && int(pair[1]) !== undefined) {
        pairs.push([pair[0] as number, pair[1] as number]);
      }
    }
  }
  const status: SubmissionStatus = {
    user: int(json.user) ?? 0,
    processing_started: parseNovaTime(json.processing_started),
    processing_finished: parseNovaTime(json.processing_finished),
    user_images: ints(json.user_images),
    images: ints(json.images),
    jobs,
    job_calibrations: pairs,
  };
  if (typeof json.error_message === 'string' && json.error_message !== '') status.error_message = json.error_message;
  return status;
}

const JOB_STATUSES: readonly JobStatus[] = ['processing', 'solving', 'success', 'failure', '?'];

export function decodeJobStatus(json: Json, url: string): JobStatus {
  const status = json.status;
  if (typeof status !== 'string' || !(JOB_STATUSES as readonly string[]).includes(status)) throw bad('a job status', url, json);
  return status as JobStatus;
}

/** `undefined` when nova says `{"error": "no calibration data available ..."}`. */
export function decodeCalibration(json: Json, url: string): Calibration | undefined {
  if (typeof json.error === 'string') return undefined;
  const cal = calibrationFrom(json);
  if (!cal) throw bad('a calibration', url, json);
  return cal;
}

export function calibrationFrom(json: Json): Calibration | undefined {
  const ra = num(json.ra);
  const dec = num(json.dec);
  const radius = num(json.radius);
  const pixscale = num(json.pixscale);
  const orientation = num(json.orientation);
  const parity = num(json.parity);
  if (ra === undefined || dec === undefined || radius === undefined || pixscale === undefined || orientation === undefined) {
    return undefined;
  }
  // A sky position must be on the sky: a declination of 1e308 is a broken server, not a result.
  if (ra < 0 || ra > 360 || dec < -90 || dec > 90 || radius <= 0 || radius > 180 || pixscale <= 0 || Math.abs(orientation) > 360) {
    return undefined;
  }
  const cal: Calibration = { ra, dec, radius, pixscale, orientation, parity: parity !== undefined && parity < 0 ? -1 : 1 };
  const width = num(json.width_arcsec);
  const height = num(json.height_arcsec);
  if (width !== undefined) cal.width_arcsec = width;
  if (height !== undefined) cal.height_arcsec = height;
  return cal;
}

