/**
 * Everything that runs on any platform with `fetch`. The Node entry (`index.ts`) and the
 * browser entry (`browser.ts`) both re-export this; only the Node one adds undici and files.
 *
 * Kept small on purpose: the facades, the transports, the errors, and the types they take and
 * return. The statecharts and their tasks are at `astrometry-net-client/machines`; FITS, WCS,
 * star extraction and the inspectors have subpaths of their own, so a bundle only carries them
 * when it imports them.
 */
export { Client, SolveResult, type HduSolve, type CallOptions, type ClientOptions, type SolveOptions, type SolveManyOptions, type SolveManyOutcome } from './client/client.js';
export type { StageTimings, TimedStage } from './client/solve-view.js';
export { Session, DEFAULT_TIMEOUT_MS, type SessionOptions } from './client/session.js';
export { FileUpload, UrlUpload, SourceListUpload, type UploadConfig } from './client/uploads.js';
export { Submission } from './client/submission.js';
export { Job } from './client/job.js';
export { StartedSolve, type PersistedSolve, type WaitOptions } from './client/started-solve.js';
export { createSolveLogic, type SolveLogic, type SolveLogicInput, type SolveLogicOutput, type SolveLogicCommon } from './client/solve-logic.js';
export type { LocalExtractionOptions } from './client/local-extraction.js';
export type { SolveQuality } from './client/quality.js';
export type { CachedSolve, SolveCacheOption, SolveCacheStore } from './client/solve-cache.js';
export type { SolveInput, SourceList, UploadDescriptor, MemoryStore, ByteStream } from './client/solve-input.js';
export type { ItemProgress, BatchProgress } from './client/batch-driver.js';
export type { SolveView, SolvePhase, SolveStage } from './client/solve-view.js';
export {
  ERROR_CODES,
  AstrometryNetError,
  AuthError,
  SessionExpiredError,
  ValidationError,
  ApiError,
  HttpError,
  NotFoundError,
  SubmissionFailedError,
  JobFailedError,
  TimeoutError,
  AbortedError,
  NetworkError,
  UnexpectedContentError,
  ResponseTooLargeError,
  UploadInterruptedError,
  UnreachableError,
  reviveError,
  type ErrorCode,
  type SolveLocation,
  type AstrometryNetErrorOptions,
  type SerializedError,
} from './errors.js';
export type * from './protocol/models.js';
export type { UploadOptions, WireUploadOptions, ScaleUnits, Parity, Licence, ModificationsLicence } from './protocol/upload-options.js';
export { DEFAULT_RETRY, type RetryPolicy } from './protocol/retry.js';
export type { RequestLimits } from './protocol/exchange.js';
export { DEFAULT_API_URL } from './protocol/urls.js';
export { RESULT_KINDS, FILE_RESULT_KINDS, type ResultKind, type FileResultKind, type JsonResultKind, type ResultFile } from './protocol/result-kinds.js';
export { FILE_RESULTS, type FileKindSpec } from './protocol/result-files.js';
export { fetchTransport, type FetchTransportOptions } from './transport/fetch.js';
export type { Transport, TransportRequest, TransportResponse, RequestBody, UploadSource } from './transport/transport.js';
export type { RequestEvent } from './tasks/dependencies.js';
export type { PollSchedule } from './tasks/polling.js';
export type { Wcs, SkyPoint, PixelPoint } from './wcs/index.js';
export type { SolveTag, Stage } from '../machines/solve.machine.js';
export type { ServerInfo, AccountOutput, AccountQuery } from '../machines/account.machine.js';
export type { SolveSnapshot, SolveActor } from '../machines/solve.machine.js';
