/**
 * One error hierarchy for everything the client can fail with.
 *
 * Every error has a string `code` a caller can switch on, and carries the submission id and job
 * id when they are known, so a caller can resume instead of uploading again. Messages never
 * contain the API key or the session key: text that comes from the server passes through
 * `redact()` first, because nova echoes the session key in `no session with key "..."`.
 */

/** Every code an AstrometryNetError can carry (the CLI's JSON schema lists them from here). */
export const ERROR_CODES = [
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
  'response_too_large',
  'unreachable',
  // An image that cannot be read, or would not fit the memory budget (ImageError, in
  // astrometry-net-client/extract: local extraction reads images, a solve does not).
  'invalid_image',
  'invalid_fits',
  'image_too_large',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Where a solve stood when it failed: enough to pick it up again. */
export interface SolveLocation {
  subid?: number;
  jobId?: number;
}

export interface AstrometryNetErrorOptions extends SolveLocation {
  cause?: unknown;
}

export class AstrometryNetError extends Error {
  readonly code: ErrorCode = 'api';
  subid?: number;
  jobId?: number;

  constructor(message: string, options: AstrometryNetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options.subid !== undefined) this.subid = options.subid;
    if (options.jobId !== undefined) this.jobId = options.jobId;
  }

  /** Adds what is known about where the solve stood, without overwriting what the error knew. */
  at(location: SolveLocation): this {
    if (this.subid === undefined && location.subid !== undefined) this.subid = location.subid;
    if (this.jobId === undefined && location.jobId !== undefined) this.jobId = location.jobId;
    return this;
  }

  /** A plain object safe to log, snapshot or send to the inspector. */
  toJSON(): SerializedError {
    const out: SerializedError = { name: this.name, code: this.code, message: this.message };
    for (const key of DETAIL_KEYS) {
      const value = (this as Record<string, unknown>)[key];
      if (value !== undefined) (out as unknown as Record<string, unknown>)[key] = value;
    }
    return out;
  }
}

// Fields of the subclasses that a caller may read; they survive a snapshot and `reviveError`.
const DETAIL_KEYS = ['subid', 'jobId', 'status', 'retryAfterSeconds', 'serverMessage', 'url', 'contentType', 'bodyStart', 'option', 'allowed', 'limit', 'width', 'height', 'format', 'host'] as const;

export interface SerializedError extends SolveLocation {
  name: string;
  code: ErrorCode;
  message: string;
  status?: number;
  retryAfterSeconds?: number;
  serverMessage?: string;
  url?: string;
  contentType?: string;
  bodyStart?: string;
  option?: string;
  allowed?: string;
  limit?: number;
  width?: number;
  height?: number;
  format?: string;
  host?: string;
}

/** The API key was refused, or a session could not be obtained. */
export class AuthError extends AstrometryNetError {
  override readonly code = 'auth';
}

/**
 * The server no longer knows the session (`no session with key` or `user is not
 * authenticated.`). The machines log in again and retry once before surfacing it.
 */
export class SessionExpiredError extends AuthError {}

/** An option or input was refused before any request was made. */
export class ValidationError extends AstrometryNetError {
  override readonly code = 'validation';
  /** The option's name as the caller spelled it, e.g. `scaleLower`. */
  readonly option: string;
  readonly value: unknown;
  /** What would have been accepted, in words: `a number in (0, 180]`. */
  readonly allowed: string;

  constructor(option: string, value: unknown, allowed: string) {
    super(`Invalid option ${option}: ${describeValue(value)}. Allowed: ${allowed}.`);
    this.option = option;
    this.value = value;
    this.allowed = allowed;
  }
}

/** The server answered `{"status": "error", "errormessage": ...}`. */
export class ApiError extends AstrometryNetError {
  override readonly code = 'api';
  /** The server's own words (secrets redacted). */
  readonly serverMessage: string;
  constructor(serverMessage: string, options: AstrometryNetErrorOptions = {}) {
    const safe = redact(serverMessage);
    super(`The server refused the request: ${safe}`, options);
    this.serverMessage = safe;
  }
}

/** An HTTP status the request could not succeed with (5xx, 403, 413, 429 after retries...). */
export class HttpError extends AstrometryNetError {
  override readonly code = 'http';
  readonly status: number;
  /** Seconds the server asked to wait (429/503 Retry-After), when it said. */
  readonly retryAfterSeconds?: number;
  constructor(status: number, url: string, options: AstrometryNetErrorOptions & { retryAfterSeconds?: number } = {}) {
    super(`HTTP ${status} from ${url}${hintForStatus(status)}`, options);
    this.status = status;
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** The server does not know this submission or job id (HTML 404). */
export class NotFoundError extends AstrometryNetError {
  override readonly code = 'not_found';
  readonly url: string;
  constructor(url: string, options: AstrometryNetErrorOptions = {}) {
    super(`Not found: ${url}`, options);
    this.url = url;
  }
}

/** Ingestion failed: the submission carries `error_message` and will never get a job. */
export class SubmissionFailedError extends AstrometryNetError {
  override readonly code = 'submission_failed';
  readonly serverMessage: string;
  constructor(serverMessage: string, options: AstrometryNetErrorOptions = {}) {
    const safe = redact(serverMessage);
    super(`Submission ${options.subid ?? '?'} failed on the server: ${safe}`, options);
    this.serverMessage = safe;
  }
}

/** The solver ran and found no solution (job status `failure`). */
export class JobFailedError extends AstrometryNetError {
  override readonly code = 'job_failed';
  constructor(message: string, options: AstrometryNetErrorOptions = {}) {
    super(message, options);
  }
}

/** The overall deadline passed before the solve finished. */
export class TimeoutError extends AstrometryNetError {
  override readonly code = 'timeout';
}

/** The caller cancelled (AbortSignal or `CANCEL`). */
export class AbortedError extends AstrometryNetError {
  override readonly code = 'aborted';
}

/** The connection failed, dropped or timed out before an answer arrived. */
export class NetworkError extends AstrometryNetError {
  override readonly code = 'network';
}

/**
 * A body of the wrong kind: HTML or text where JSON or a FITS file was expected, or a JSON
 * answer whose values cannot be true (a declination of 1e308, an empty WCS file).
 */
/**
 * The server could not be reached at all (connection refused, name not resolved) for
 * `unreachableAfterMs` (default 2 minutes) of a login or an upload. Nothing was sent, so the
 * solve can be started again, here or on another server.
 */
export class UnreachableError extends AstrometryNetError {
  override readonly code = 'unreachable';
  /** The host that could not be reached. */
  readonly host: string;

  constructor(message: string, host: string, options: AstrometryNetErrorOptions = {}) {
    super(message, options);
    this.host = host;
  }
}

export class UnexpectedContentError extends AstrometryNetError {
  override readonly code = 'unexpected_content';
  /**
   * Whether asking again may give the right answer: nova's front end serves maintenance pages
   * and error pages in place of JSON. A well-formed answer with impossible values is not.
   */
  readonly transient: boolean;
  readonly status: number;
  readonly contentType: string;
  /** The first characters of the body, to tell a login page from a stack trace. */
  readonly bodyStart: string;
  constructor(
    what: string,
    details: { url: string; status: number; contentType: string; bodyStart: string; transient?: boolean },
    options: AstrometryNetErrorOptions = {},
  ) {
    const start = redact(details.bodyStart);

    super(
      `Expected ${what} from ${details.url} but got HTTP ${details.status} ${details.contentType || '(no content type)'}: ${JSON.stringify(start)}`,
      options,
    );
    this.status = details.status;
    this.contentType = details.contentType;
    this.bodyStart = start;
    this.transient = details.transient ?? false;
  }
}

/** An answer larger than the client accepts (`maxJsonBytes`, `maxFileBytes`): refused, not buffered. */
export class ResponseTooLargeError extends AstrometryNetError {
  override readonly code = 'response_too_large';
  readonly url: string;
  /** The cap, in bytes. */
  readonly limit: number;
  constructor(url: string, limit: number, options: AstrometryNetErrorOptions = {}) {
    super(`The answer from ${url} is larger than ${limit} bytes; refused (raise the limit if the file is really that big).`, options);
    this.url = url;
    this.limit = limit;
  }
}

/**
 * A process stopped while an upload was in flight, and a snapshot from that moment was restored.
 * The server may or may not have the file: the client will not guess by uploading again.
 */
export class UploadInterruptedError extends AstrometryNetError {
  override readonly code = 'upload_interrupted';
  constructor() {
    super(
      'The upload was in flight when this solve was saved; the server may already have it, so it was not sent again. Submit the input again to solve it anew.',
    );
  }
}

const BY_CODE: Partial<Record<ErrorCode, () => AstrometryNetError>> = {
  auth: () => new AuthError(''),
  validation: () => new ValidationError('', undefined, ''),
  api: () => new ApiError(''),
  http: () => new HttpError(0, ''),
  not_found: () => new NotFoundError(''),
  submission_failed: () => new SubmissionFailedError(''),
  job_failed: () => new JobFailedError(''),
  timeout: () => new TimeoutError(''),
  aborted: () => new AbortedError(''),
  network: () => new NetworkError(''),
  unexpected_content: () => new UnexpectedContentError('', { url: '', status: 0, contentType: '', bodyStart: '' }),
  upload_interrupted: () => new UploadInterruptedError(),
  response_too_large: () => new ResponseTooLargeError('', 0),
  unreachable: () => new UnreachableError('', ''),
};

/** Turns an error kept in context (or a snapshot) back into its class, so `instanceof` works. */
export function reviveError(e: SerializedError): AstrometryNetError {
  // The one subclass that shares its code with another.
  const make = e.name === 'SessionExpiredError' ? () => new SessionExpiredError('') : (BY_CODE[e.code] ?? (() => new AstrometryNetError('')));
  const { name: _name, code, ...fields } = e;
  // The recorded message and details win over the placeholder the constructor made; a code
  // whose class lives elsewhere (ImageError) is kept on the base class.
  return Object.assign(make(), BY_CODE[code] ? {} : { code }, fields);
}

/** A context-safe record of anything thrown: the library's own `toJSON`, or a plain network error. */
export function serializeError(error: unknown): SerializedError {
  const e = error as { toJSON?: () => SerializedError; message?: unknown };
  if (error instanceof AstrometryNetError || (typeof e?.toJSON === 'function' && typeof (e.toJSON() as { code?: unknown })?.code === 'string')) {
    return (e.toJSON as () => SerializedError)();
  }
  return { name: 'Error', code: 'network', message: redact(error instanceof Error ? error.message : String(e?.message ?? error)) };
}

/** Turns anything thrown into an AstrometryNetError without losing a typed one. */
export function toAstrometryNetError(error: unknown, location: SolveLocation = {}): AstrometryNetError {
  if (error instanceof AstrometryNetError) return error.at(location);
  if (isAbortError(error)) return new AbortedError('The request was aborted.', { ...location, cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new NetworkError(`Request failed: ${redact(message)}`, { ...location, cause: error });
}

export function isAbortError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    'name' in error &&
    ((error as { name: unknown }).name === 'AbortError' ||
      (error as { name: unknown }).name === 'RequestAbortedError')
  );
}

// Session keys are 32 [a-z0-9]; API keys 16 [a-z]. Any long lowercase token in server text is
// masked, which also covers the key nova quotes back in `no session with key "<key>"`.
const SECRET_PATTERN = /\b[a-z0-9]{16,64}\b/g;

/** Masks anything that looks like an API or session key. */
export function redact(text: string): string {
  return text.replace(SECRET_PATTERN, (token) => (/[a-z]/.test(token) && /^[a-z0-9]+$/.test(token) && !/^\d+$/.test(token) ? '[redacted]' : token));
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function hintForStatus(status: number): string {
  if (status === 403) return ' (nova.astrometry.net blocks clients that poll too fast; wait and slow down)';
  if (status === 413) return ' (the upload is larger than the server accepts)';
  if (status === 429) return ' (rate limited)';
  return '';
}
