/**
 * The error hierarchy: codes, secret redaction, and the round trip through a snapshot
 * (SerializedError → reviveError) that every facade relies on.
 */
import { inspect } from 'node:util';
import { describe, expect, test } from 'vitest';
import {
  AbortedError,
  ApiError,
  AstrometryNetError,
  AuthError,
  HttpError,
  JobFailedError,
  NetworkError,
  NotFoundError,
  SessionExpiredError,
  SubmissionFailedError,
  TimeoutError,
  UnexpectedContentError,
  UploadInterruptedError,
  ValidationError,
  redact,
  toAstrometryNetError,
  type ErrorCode,
} from '../src/errors.js';
import { reviveError } from '../src/errors.js';
import { API_KEY, SESSION } from './helpers/fake-nova.js';

describe('redact', () => {
  test.each([
    [SESSION, '[redacted]'],
    [API_KEY, '[redacted]'],
    [`no session with key "${SESSION}"`, 'no session with key "[redacted]"'],
    [`{"apikey": "${API_KEY}"}`, '{"apikey": "[redacted]"}'],
    [`http://nova.test/api/x?session=${SESSION}&a=1`, 'http://nova.test/api/x?session=[redacted]&a=1'],
    ['zyxwvutsrqponmlk', '[redacted]'],
    ['k3j9x0a8b7c6d5e4f3g2h1i0j9k8l7m6', '[redacted]'],
    [`two: ${SESSION} and ${API_KEY}.`, 'two: [redacted] and [redacted].'],
  ])('masks the secret in %j', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  test.each([
    'authenticated user: someone@example.org',
    'Failed to find an Album with title "Orion nebula wide field"',
    'no calibration data available for job 12345678',
    'user is not authenticated.',
    'submission does not exist',
    'The upload is larger than the server accepts',
    '12345678901234567890123456789012',
    '1234567890123456',
    '/api/jobs/12345678/calibration',
    '/home/someone/images/m42_2026-11-25T10-00-00.fits',
    'C:\\Users\\someone\\Pictures\\andromeda.jpg',
    'http://nova.astrometry.net/api/submissions/12345678',
    'Traceback (most recent call last): File "process_submissions.py", line 540, in dosub',
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef',
    'short abc123 tokens stay',
  ])('leaves %j alone', (input) => {
    expect(redact(input)).toBe(input);
  });
});

describe('secrets never reach an error', () => {
  test(`ApiError('no session with key "<SESSION>"') never holds the key`, () => {
    const error = new ApiError(`no session with key "${SESSION}"`, { subid: 5 });
    const views = [
      error.message,
      error.serverMessage,
      String(error),
      error.stack ?? '',
      JSON.stringify(error),
      JSON.stringify(error.toJSON()),
      inspect(error, { depth: 5 }),
    ];
    for (const view of views) expect(view).not.toContain(SESSION);
    expect(error.serverMessage).toBe('no session with key "[redacted]"');
    expect(error.toJSON()).toEqual({ name: 'ApiError', code: 'api', message: error.message, subid: 5, serverMessage: 'no session with key "[redacted]"' });
  });

  test('SubmissionFailedError, UnexpectedContentError and NetworkError redact what they quote', () => {
    const submission = new SubmissionFailedError(`...KeyError: '${API_KEY}'`, { subid: 1 });
    const content = new UnexpectedContentError('a JSON answer', {
      url: 'http://nova.test/api/upload',
      status: 200,
      contentType: 'text/html',
      bodyStart: `<html>session ${SESSION}</html>`,
    });
    const network = toAstrometryNetError(new Error(`connect failed for ${SESSION}`));
    for (const error of [submission, content, network]) {
      expect(error.message).not.toContain(SESSION);
      expect(error.message).not.toContain(API_KEY);
      expect(JSON.stringify(error)).not.toContain(SESSION);
      expect(JSON.stringify(error)).not.toContain(API_KEY);
    }
    expect(content.bodyStart).not.toContain(SESSION);
    expect(submission.serverMessage).not.toContain(API_KEY);
  });
});

// One instance of every class, with where the solve stood.
const INSTANCES: [string, AstrometryNetError, ErrorCode][] = [
  ['AuthError', new AuthError('bad apikey'), 'auth'],
  ['SessionExpiredError', new SessionExpiredError('log in again', { subid: 3 }), 'auth'],
  ['ValidationError', new ValidationError('scaleLower', -1, 'a number greater than 0'), 'validation'],
  ['ApiError', new ApiError('Failed to find an Album', { subid: 3 }), 'api'],
  ['HttpError', new HttpError(503, 'http://nova.test/api/jobs/1', { jobId: 1, retryAfterSeconds: 5 }), 'http'],
  ['NotFoundError', new NotFoundError('http://nova.test/api/jobs/9', { subid: 3, jobId: 9 }), 'not_found'],
  ['SubmissionFailedError', new SubmissionFailedError('IOError', { subid: 3 }), 'submission_failed'],
  ['JobFailedError', new JobFailedError('no solution', { subid: 3, jobId: 4 }), 'job_failed'],
  ['TimeoutError', new TimeoutError('too slow', { subid: 3, jobId: 4 }), 'timeout'],
  ['AbortedError', new AbortedError('cancelled', { subid: 3 }), 'aborted'],
  ['NetworkError', new NetworkError('socket hang up', { jobId: 4 }), 'network'],
  [
    'UnexpectedContentError',
    new UnexpectedContentError('the wcs file', { url: 'u', status: 200, contentType: 'text/html', bodyStart: '<html>' }, { jobId: 4 }),
    'unexpected_content',
  ],
  ['UploadInterruptedError', new UploadInterruptedError().at({ subid: 3 }), 'upload_interrupted'],
];

describe('every error class', () => {
  test.each(INSTANCES)('%s has its code and name, and is an AstrometryNetError', (name, error, code) => {
    expect(error.code).toBe(code);
    expect(error.name).toBe(name);
    expect(error).toBeInstanceOf(AstrometryNetError);
    expect(error).toBeInstanceOf(Error);
    expect(error.toJSON()).toMatchObject({ name, code, message: error.message });
  });

  test('the codes cover every ErrorCode', () => {
    expect(new Set(INSTANCES.map(([, , code]) => code))).toEqual(
      new Set([
        'auth',
        'validation',
        'api',
        'http',
        'not_found',
        'submission_failed',
        'job_failed',
        'timeout',
        'aborted',
        'network',
        'unexpected_content',
        'upload_interrupted',
      ]),
    );
  });

  test('SessionExpiredError is an AuthError', () => {
    expect(new SessionExpiredError('x')).toBeInstanceOf(AuthError);
  });

  test('ValidationError names the option, value and allowed values', () => {
    const error = new ValidationError('tweakOrder', 12, 'an integer from 0 to 9');
    expect(error.message).toBe('Invalid option tweakOrder: 12. Allowed: an integer from 0 to 9.');
    expect(new ValidationError('album', '', 'a title').message).toContain('""');
  });

  test('HttpError keeps the status and Retry-After, and hints at 403/413/429', () => {
    const e = INSTANCES.find(([n]) => n === 'HttpError')![1] as HttpError;
    expect(e.status).toBe(503);
    expect(e.retryAfterSeconds).toBe(5);
    expect(new HttpError(403, 'u').message).toMatch(/poll/);
    expect(new HttpError(413, 'u').message).toMatch(/larger/);
    expect(new HttpError(429, 'u').message).toMatch(/rate/);
    expect(new HttpError(500, 'u').message).toBe('HTTP 500 from u');
  });

  test('at() adds the location without overwriting what the error knew', () => {
    const error = new NotFoundError('u', { jobId: 9 }).at({ subid: 3, jobId: 10 });
    expect(error.jobId).toBe(9);
    expect(error.subid).toBe(3);
  });

  test('toAstrometryNetError keeps typed errors, maps aborts, wraps the rest as network errors', () => {
    const typed = new JobFailedError('x');
    expect(toAstrometryNetError(typed, { jobId: 4 })).toBe(typed);
    expect(typed.jobId).toBe(4);
    expect(toAstrometryNetError(Object.assign(new Error('a'), { name: 'AbortError' }))).toBeInstanceOf(AbortedError);
    expect(toAstrometryNetError(Object.assign(new Error('a'), { name: 'RequestAbortedError' }))).toBeInstanceOf(AbortedError);
    const wrapped = toAstrometryNetError('weird', { subid: 2 });
    expect(wrapped).toBeInstanceOf(NetworkError);
    expect(wrapped.subid).toBe(2);
    expect(wrapped.message).toContain('weird');
  });
});

describe('reviveError', () => {
  test.each(INSTANCES)('round-trips %s through JSON: class, code, message and location', (_name, error) => {
    const serialized = JSON.parse(JSON.stringify(error.toJSON()));
    const revived = reviveError(serialized);
    expect(revived.constructor).toBe(error.constructor);
    expect(revived).toBeInstanceOf(error.constructor as typeof AstrometryNetError);
    expect(revived.code).toBe(error.code);
    expect(revived.name).toBe(error.name);
    expect(revived.message).toBe(error.message);
    expect(revived.subid).toBe(error.subid);
    expect(revived.jobId).toBe(error.jobId);
    expect(revived.toJSON()).toEqual(error.toJSON());
  });

  test('the base class keeps its code', () => {
    const revived = reviveError(new AstrometryNetError('generic').toJSON());
    expect(revived).toBeInstanceOf(AstrometryNetError);
    expect(revived.code).toBe('api');
    expect(revived.message).toBe('generic');
  });

  test('a plain error recorded by the machine ({ name: "Error", code: "network" }) keeps its code', () => {
    const revived = reviveError({ name: 'Error', code: 'network', message: 'boom', subid: 3 });
    expect(revived.code).toBe('network');
    expect(revived).toBeInstanceOf(NetworkError);
    expect(revived.subid).toBe(3);
  });
});
