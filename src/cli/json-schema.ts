/**
 * The document `astrometry-net solve --json` prints on stdout: one JSON object, printed once,
 * after every input settled. Inputs are listed in the order they were given (expanded), not in
 * the order they finished.
 */
import type { SolveHints } from '../client/hints.js';
import type { Calibration } from '../protocol/models.js';
import { ERROR_CODES } from '../errors.js';
import type { SolveQuality } from '../client/quality.js';

export interface SolveJsonInput {
  /** The input as given (a path relative to the working directory, or a URL). */
  input: string;
  subid: number | null;
  jobId: number | null;
  status: 'success' | 'failure';
  calibration: Calibration | null;
  /** Written files by kind (`wcs`, `newFits`, `corr`, ..., `solvedFits`): absolute paths. */
  files: Record<string, string>;
  error: { code: string; message: string } | null;
  /** Done in an earlier run (found in the journal) and not solved again. */
  skipped: boolean;
  /** Picked up from an earlier run's submission or job (no upload), or null. */
  resumedFrom: 'submission' | 'job' | null;
  /** Answered from the solve cache (the same content solved before): not uploaded. */
  fromCache: boolean;
  /** How good the solution is (matched stars, RMS residual, log-odds, suspect); null when failed or not measured. */
  quality: SolveQuality | null;
  /** The hints sent with the upload and where each came from (`retryOf`: a blind retry); absent when none was sent. */
  hints?: SolveHints | null;
}

export interface SolveJsonDocument {
  inputs: SolveJsonInput[];
  summary: { total: number; solved: number; failed: number };
}

const nullableInt = { type: ['integer', 'null'], minimum: 1 };

const calibration = {
  type: 'object',
  required: ['ra', 'dec', 'radius', 'pixscale', 'orientation', 'parity'],
  properties: {
    ra: { type: 'number', minimum: 0, maximum: 360 },
    dec: { type: 'number', minimum: -90, maximum: 90 },
    radius: { type: 'number', minimum: 0 },
    pixscale: { type: 'number', minimum: 0 },
    orientation: { type: 'number' },
    parity: { type: 'number', enum: [1, -1] },
    width_arcsec: { type: 'number' },
    height_arcsec: { type: 'number' },
  },
  additionalProperties: false,
} as const;

const quality = {
  type: 'object',
  required: ['matchedStars', 'rmsArcsec', 'logOdds', 'suspect'],
  properties: {
    matchedStars: { type: 'integer', minimum: 0 },
    rmsArcsec: { type: ['number', 'null'], minimum: 0 },
    logOdds: { type: ['number', 'null'] },
    suspect: { type: 'boolean' },
  },
  additionalProperties: false,
} as const;

const hints = {
  type: 'object',
  required: ['position', 'scale', 'strict', 'retryOf'],
  additionalProperties: false,
  properties: {
    position: {
      anyOf: [
        {
          type: 'object',
          required: ['ra', 'dec', 'radius', 'from'],
          additionalProperties: false,
          properties: { ra: { type: 'number' }, dec: { type: 'number' }, radius: { type: 'number' }, from: { type: 'string' } },
        },
        { type: 'null' },
      ],
    },
    scale: {
      anyOf: [
        {
          type: 'object',
          required: ['lower', 'upper', 'from'],
          additionalProperties: false,
          properties: { lower: { type: 'number' }, upper: { type: 'number' }, from: { type: 'string' } },
        },
        { type: 'null' },
      ],
    },
    strict: { type: 'boolean' },
    retryOf: {
      anyOf: [
        { type: 'object', required: ['subid', 'jobId'], additionalProperties: false, properties: { subid: nullableInt, jobId: nullableInt } },
        { type: 'null' },
      ],
    },
  },
} as const;

/** JSON Schema (draft 2020-12) of `SolveJsonDocument`. */
export const SOLVE_JSON_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://github.com/astrometry-net-client/schemas/solve-output.json',
  title: 'astrometry-net solve --json',
  type: 'object',
  required: ['inputs', 'summary'],
  additionalProperties: false,
  properties: {
    inputs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['input', 'subid', 'jobId', 'status', 'calibration', 'files', 'error', 'skipped', 'resumedFrom', 'fromCache', 'quality'],
        additionalProperties: false,
        properties: {
          input: { type: 'string', minLength: 1 },
          subid: nullableInt,
          jobId: nullableInt,
          status: { type: 'string', enum: ['success', 'failure'] },
          calibration: { anyOf: [calibration, { type: 'null' }] },
          files: {
            type: 'object',
            propertyNames: {
              enum: ['wcs', 'newFits', 'corr', 'rdls', 'axy', 'imageRd', 'annotated', 'redGreen', 'extraction', 'solvedFits'],
            },
            additionalProperties: { type: 'string', minLength: 1 },
          },
          error: {
            anyOf: [
              {
                type: 'object',
                required: ['code', 'message'],
                additionalProperties: false,
                properties: {
                  code: {
                    type: 'string',
                    enum: [...ERROR_CODES],
                  },
                  message: { type: 'string', minLength: 1 },
                },
              },
              { type: 'null' },
            ],
          },
          skipped: { type: 'boolean' },
          resumedFrom: { anyOf: [{ type: 'string', enum: ['submission', 'job'] }, { type: 'null' }] },
          fromCache: { type: 'boolean' },
          quality: { anyOf: [quality, { type: 'null' }] },
          hints: { anyOf: [hints, { type: 'null' }] },
        },
      },
    },
    summary: {
      type: 'object',
      required: ['total', 'solved', 'failed'],
      additionalProperties: false,
      properties: {
        total: { type: 'integer', minimum: 0 },
        solved: { type: 'integer', minimum: 0 },
        failed: { type: 'integer', minimum: 0 },
      },
    },
  },
} as const;
