/**
 * One job on the server: its status, and its results, each fetched once and cached by the
 * solve machine. A Job shares the machine of the Submission that produced it.
 */
import type { FetchedResult } from '../../machines/solve.machine.js';
import type { Wcs } from '../wcs/index.js';
import type { Annotation, Calibration, JobInfo, JobStatus } from '../protocol/models.js';
import type { FileResultKind, ResultFile } from '../protocol/result-kinds.js';
import { UnexpectedContentError, ValidationError } from '../errors.js';
import type { Session } from './session.js';
import type { SolveQuality } from './quality.js';
import { StartedSolve, milestones, polls, type WaitOptions } from './started-solve.js';


export class Job {
  readonly #handle: StartedSolve;
  readonly #firstId: number;

  /** A job by id, e.g. from `myjobs` or an earlier run. Its status is polled until final. */
  static byId(id: number, session: Session): Job {
    if (!Number.isSafeInteger(id) || id <= 0) throw new ValidationError('jobId', id, 'a positive integer job id');
    const handle = new StartedSolve(session, { input: { jobId: id, schedule: session.schedule, timeoutMs: session.timeoutMs } });
    handle.actor.send({ type: 'START' });
    return new Job(id, handle);
  }

  /** Made by `Submission` and `Job.byId`; not meant to be called directly. */
  constructor(id: number, handle: StartedSolve) {
    this.#firstId = id;
    this.#handle = handle;
  }

  /** The job's id; it changes if the server re-created the job after a worker restart. */
  get id(): number {
    return this.#handle.snapshot.context.jobId ?? this.#firstId;
  }

  /** The machine behind this job. */
  get handle(): StartedSolve {
    return this.#handle;
  }

  /** The job's status. Makes one request unless the status is already final. */
  async status(options: WaitOptions = {}): Promise<JobStatus> {
    const snap = this.#handle.snapshot;
    if (polls.jobWaiting(snap)) {
      this.#handle.actor.send({ type: 'POLL_NOW' });
    }
    if (polls.jobWaiting(snap) || polls.jobReading(snap)) {
      await this.#handle.until((s) => !polls.jobReading(s), options);
    }
    return (this.#handle.snapshot.context.jobStatus ?? 'processing') as JobStatus;
  }

  /** Waits until the job succeeded (with its calibration) or failed; throws on failure. */
  async untilDone(options: WaitOptions = {}): Promise<this> {
    await this.#handle.reach(milestones.settled, options);
    return this;
  }

  /** Whether the job solved. Waits for it to finish; never throws for a job failure. */
  async success(options: WaitOptions = {}): Promise<boolean> {
    const s = await this.#handle.settled(options);
    return s.context.error === null;
  }

  info(options?: WaitOptions): Promise<JobInfo> {
    return this.#result<JobInfo>('info', options);
  }

  calibration(options?: WaitOptions): Promise<Calibration> {
    return this.#result<Calibration>('calibration', options);
  }

  tags(options?: WaitOptions): Promise<string[]> {
    return this.#result<string[]>('tags', options);
  }

  machineTags(options?: WaitOptions): Promise<string[]> {
    return this.#result<string[]>('machineTags', options);
  }

  objectsInField(options?: WaitOptions): Promise<string[]> {
    return this.#result<string[]>('objectsInField', options);
  }

  /** Objects in the field in pixel coordinates; `nbright` limits the bright stars listed. */
  async annotations(options: WaitOptions & { nbright?: number } = {}): Promise<Annotation[]> {
    await this.#handle.reach(milestones.settled, options);
    const { nbright, ...wait } = options;
    return this.#handle.fetch<Annotation[]>(nbright === undefined ? { kind: 'annotations' } : { kind: 'annotations', nbright }, wait);
  }

  /** Any result file by kind. */
  async file(kind: FileResultKind, options: WaitOptions = {}): Promise<ResultFile> {
    await this.#handle.settled(options);
    return this.#handle.fetch<ResultFile>({ kind }, options);
  }

  wcsFile(options?: WaitOptions): Promise<ResultFile> {
    return this.file('wcs', options);
  }

  /** The solved WCS (TAN-SIP), read from the WCS file; its header cards are `wcs.header`. */
  async wcs(options?: WaitOptions): Promise<Wcs> {
    const file = await this.wcsFile(options);
    // Loaded on first use: FITS and WCS stay out of a bundle that never asks for a WCS.
    const [{ Wcs }, { FitsError }] = await Promise.all([import('../wcs/index.js'), import('../fits/index.js')]);
    try {
      return Wcs.fromFits(file.bytes);
    } catch (error) {
      // A WCS file the server sent but that cannot be read is the server's fault, reported as such.
      if (!(error instanceof FitsError)) throw error;
      throw new UnexpectedContentError(
        `a readable WCS file (${error.message})`,
        { url: `wcs_file/${this.id}`, status: 200, contentType: file.contentType, bodyStart: '' },
        { jobId: this.id },
      );
    }
  }

  /**
   * How good the solution is: matched stars, their RMS residual, the log-odds, and whether it is
   * suspect. Read from the corr and WCS files, fetched once like any result file.
   */
  async quality(options?: WaitOptions): Promise<SolveQuality> {
    const calibration = await this.calibration(options);
    const corr = await this.corrFile(options);
    const wcs = await this.wcsFile(options);
    // Loaded on first use, like the WCS reader: FITS stays out of a bundle that never asks.
    const [{ measureQuality }, { FitsError }] = await Promise.all([import('./quality.js'), import('../fits/index.js')]);
    try {
      return measureQuality(corr.bytes, wcs.bytes, calibration.pixscale);
    } catch (error) {
      if (!(error instanceof FitsError)) throw error;
      throw new UnexpectedContentError(
        `a readable corr file (${error.message})`,
        { url: `corr_file/${this.id}`, status: 200, contentType: corr.contentType, bodyStart: '' },
        { jobId: this.id },
      );
    }
  }

  newFitsFile(options?: WaitOptions): Promise<ResultFile> {
    return this.file('newFits', options);
  }

  rdlsFile(options?: WaitOptions): Promise<ResultFile> {
    return this.file('rdls', options);
  }

  axyFile(options?: WaitOptions): Promise<ResultFile> {
    return this.file('axy', options);
  }

  corrFile(options?: WaitOptions): Promise<ResultFile> {
    return this.file('corr', options);
  }

  imageRdFile(options?: WaitOptions): Promise<ResultFile> {
    return this.file('imageRd', options);
  }

  annotatedImage(options: WaitOptions & { size?: 'display' | 'full' } = {}): Promise<ResultFile> {
    return this.file(options.size === 'full' ? 'annotatedFull' : 'annotatedDisplay', options);
  }

  redGreenImage(options: WaitOptions & { size?: 'display' | 'full' } = {}): Promise<ResultFile> {
    return this.file(options.size === 'full' ? 'redGreenFull' : 'redGreenDisplay', options);
  }

  extractionImage(options: WaitOptions & { size?: 'display' | 'full' } = {}): Promise<ResultFile> {
    return this.file(options.size === 'full' ? 'extractionFull' : 'extractionDisplay', options);
  }

  joblog(options?: WaitOptions): Promise<ResultFile> {
    return this.file('joblog', options);
  }

  async #result<T>(kind: Exclude<FetchedResult['kind'], FileResultKind | 'annotations'>, options: WaitOptions = {}): Promise<T> {
    if (kind === 'calibration') await this.#handle.reach(milestones.settled, options);
    else await this.#handle.settled(options);
    return this.#handle.fetch<T>({ kind }, options);
  }
}
