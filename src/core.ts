/**
 * Everything that runs on any platform with \`fetch\`. The Node entry (\`index.ts\`) and the
 * browser entry (\`browser.ts\`) both re-export this; only the Node one adds undici and files.
 */
export { Client, SolveResult, stageTimings, type ClientOptions, type SolveOptions, type SolveManyOptions, type SolveManyOutcome, type StageTimings, type TimedStage } from './client.js';
export { toMermaid } from './diagram.js';
export { Session, DEFAULT_TIMEOUT_MS, type SessionOptions } from './session.js';
export { platform, usePlatform, webPlatform, type Platform } from './platform.js';
export { FileUpload, UrlUpload, SourceListUpload, type UploadConfig } from './uploads.js';
export { Submission } from './submission.js';
export { createSolveLogic, type SolveLogic, type SolveLogicInput, type SolveLogicOutput, type SolveLogicCommon } from './solve-logic.js';
export { Job } from './job.js';
export { StartedSolve, stateName, type PersistedSolve, type WaitOptions } from './started-solve.js';
export * from './errors.js';
export type * from './models.js';
export { encodeUploadOptions, UPLOAD_OPTION_NAMES, type UploadOptions, type WireUploadOptions, type ScaleUnits, type Parity, type Licence, type ModificationsLicence } from './options.js';
export type { SolveInput, SourceList, UploadDescriptor, MemoryStore, ByteStream } from './inputs.js';
export { defaultPollSchedule, pollDelay, type PollSchedule } from './polling.js';
export { DEFAULT_RETRY, type RetryPolicy } from './protocol/retry.js';
export { DEFAULT_API_URL } from './protocol/urls.js';
export { FILE_RESULTS, RESULT_KINDS, type ResultKind, type FileResultKind, type JsonResultKind, type ResultFile, type FileKindSpec } from './protocol/results.js';
export { FitsHeader, FitsError, parseHeader, readHdus, readImage, readBinTable, readXyColumns, writeImage, writeXyTable, tableFile, headerBytes, mergeWcsIntoFits, type FitsCard, type FitsValue, type CardInput, type FitsHdu, type FitsImage, type BinTable, type Column, type ColumnType, type NumberFormat, type Bitpix, type ImageToWrite } from './fits/index.js';
export { extractSources, decodeImage, type ExtractInput, type ExtractOptions, type ExtractedSources, type GreyImage } from './extract/index.js';
export type { LocalExtractionOptions } from './local-extraction.js';
export { Wcs, WcsError, type SkyPoint, type PixelPoint, type SipPolynomial } from './wcs/index.js';
export { fetchTransport, type FetchTransportOptions } from './transport/fetch.js';
export type { Transport, TransportRequest, TransportResponse, RequestBody, UploadSource } from './transport/types.js';
export { provideSolveTasks, type MachineDependencies, type RequestEvent } from './machine-tasks.js';
export { solveMachine, type SolveContext, type SolveEvent, type SolveMachineInput, type SolveSnapshot, type SolveActor, type ResultRequest } from '../machines/solve.machine.js';
export { sanitizedInspector, sanitizeForInspection, type InspectObserver } from './inspect.js';
export { batchMachine, type BatchItem, type BatchItemSummary, type BatchEmitted, type BatchOutput } from '../machines/batch.machine.js';
export { driveBatch, itemProgress, batchProgress, type BatchRun, type DriveBatchOptions, type ItemProgress, type BatchProgress } from './batch-driver.js';
export { accountMachine, type AccountOutput, type AccountQuery, type ServerInfo } from '../machines/account.machine.js';
export { provideAccountTasks } from './machine-tasks.js';
export type { SharedLogin } from './login.js';
