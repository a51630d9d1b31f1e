/**
 * `astrometry-net-client/machines`: the statecharts, and what makes them run. Each machine
 * declares its requests as typed placeholders; `provideSolveTasks` and `provideAccountTasks`
 * give them implementations bound to a `ServerPool`, a transport and a memory store. Most
 * callers take `session.machine` instead, which is the solve machine already provided
 * (and `session.endingMachine`, the one that ends once settled, for a batch's children).
 */
export {
  solveMachine,
  endingSolveMachine,
  createSolveMachine,
  type SolveMachineOptions,
  type SolveContext,
  type SolveEvent,
  type SolveMachineInput,
  type SolveSnapshot,
  type SolveActor,
  type SolveTag,
  type Stage,
  type ResultRequest,
  type RetryingNotice,
  type FetchResultInput,
  type ResultCache,
  type FetchedResult,
  type PollingState,
  type Recovery,
  type Bounded,
  type UploadActorInput,
  type StatusReadInput,
  type WaitInput,
} from './solve.machine.js';
export type { PollAnswer } from '../src/protocol/api.js';
export {
  batchMachine,
  type BatchItem,
  type BatchContext,
  type SettledSolve,
  type BatchEmitted,
  type BatchEvent,
  type BatchInput,
  type BatchOutput,
  type BatchActor,
  type BatchSnapshot,
} from './batch.machine.js';
export { accountMachine, createAccountMachine, type AccountContext, type AccountOutput, type AccountQuery, type AccountInput, type ServerInfo } from './account.machine.js';
export { createChildSolveMachine, type ChildSolveOutput } from './child-solve.machine.js';
export { provideSolveTasks } from '../src/tasks/solve-tasks.js';
export { provideAccountTasks } from '../src/tasks/account-tasks.js';
export type { MachineDependencies, RequestEvent } from '../src/tasks/dependencies.js';
export { ServerPool, type PooledServer } from '../src/tasks/server-pool.js';
export type { SharedLogin } from '../src/tasks/shared-login.js';
export { defaultPollSchedule, pollDelay, type PollSchedule } from '../src/tasks/polling.js';
export { driveBatch, itemProgress, batchProgress, type BatchRun, type DriveBatchOptions, type ItemProgress, type BatchProgress } from '../src/client/batch-driver.js';
export { viewOf, type SolveView, type SolvePhase, type SolveStage } from '../src/client/solve-view.js';
export { encodeUploadOptions, UPLOAD_OPTION_NAMES } from '../src/protocol/upload-options.js';
export type { MemoryStore } from '../src/client/solve-input.js';
