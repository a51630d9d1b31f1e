/**
 * A submission on the server: from upload to the job that solves it.
 */
import { upgradeSolveContext } from '../../machines/solve.machine.js';
import type { SubmissionStatus } from '../protocol/models.js';
import { Job } from './job.js';
import { ValidationError } from '../errors.js';
import type { Session } from './session.js';
import { StartedSolve, milestones, polls, type PersistedSolve, type WaitOptions } from './started-solve.js';

export class Submission {
  readonly #handle: StartedSolve;

  /** A submission by id, e.g. from an earlier run: no upload. */
  static byId(subid: number, session: Session): Submission {
    if (!Number.isSafeInteger(subid) || subid <= 0) throw new ValidationError('subid', subid, 'a positive integer submission id');
    const handle = new StartedSolve(session, { input: { subid, schedule: session.schedule, timeoutMs: session.timeoutMs } });
    handle.actor.send({ type: 'START' });
    return new Submission(handle);
  }

  /** Continues a solve saved with `persist()`, in this or another process. */
  static restore(persisted: PersistedSolve, session: Session, options: { timeoutMs?: number | null } = {}): Submission {
    if (persisted?.format !== 'astrometry-net-client/solve@1') throw new TypeError('Not a persisted solve from astrometry-net-client.');
    const snapshot = persisted.snapshot as { context: { timeoutMs: number | null } };
    const timeoutMs = options.timeoutMs === undefined ? snapshot.context.timeoutMs : options.timeoutMs;
    const context = { ...upgradeSolveContext(snapshot.context), timeoutMs };
    const handle = new StartedSolve(session, { snapshot: { ...snapshot, context } } as never);
    // A restored solve takes a fresh deadline on the machine's clock: the time it spent stopped is
    // not its fault (a request restored with the old one is asked again).
    handle.actor.send({ type: 'RESTORED' });
    return new Submission(handle);
  }

  /** Made by `Client`, `Session` uploads and `Submission.restore`; not meant to be called directly. */
  constructor(handle: StartedSolve) {
    this.#handle = handle;
  }

  get handle(): StartedSolve {
    return this.#handle;
  }

  /** The submission id, once the upload is done. */
  get subid(): number | undefined {
    return this.#handle.snapshot.context.subid ?? undefined;
  }

  /** Jobs the server has started for this submission (the first one is followed). */
  get jobs(): Job[] {
    const { jobId } = this.#handle.snapshot.context;
    return jobId === null ? [] : [new Job(jobId, this.#handle)];
  }

  /** The submission's status. Makes one request unless it is already known to be final. */
  async status(options: WaitOptions = {}): Promise<SubmissionStatus | null> {
    await this.#handle.until(milestones.submitted, options);
    if (polls.submissionWaiting(this.#handle.snapshot)) this.#handle.actor.send({ type: 'POLL_NOW' });
    const snap = this.#handle.snapshot;
    if (polls.submissionWaiting(snap) || polls.submissionReading(snap)) {
      await this.#handle.until((s) => !polls.submissionReading(s), options);
    }
    return this.#handle.snapshot.context.submission;
  }

  /** Waits until the server has made a job for this submission; throws if ingestion failed. */
  async untilDone(options: WaitOptions = {}): Promise<Job> {
    await this.#handle.reach(milestones.jobKnown, options);
    return this.jobs[0] as Job;
  }

  /** Saves where this solve stands; see `Submission.restore`. */
  persist(): PersistedSolve {
    return this.#handle.persist();
  }

  cancel(reason?: string): void {
    this.#handle.cancel(reason);
  }
}
