/**
 * The high-level client: `solve()` an input and get back where it points.
 */
import type { StageTimings } from './solve-view.js';
import type { BatchProgress } from './batch-driver.js';
import { AstrometryNetError, ValidationError } from '../errors.js';
import { acceptUpload, type SolveInput } from './solve-input.js';
import type { Wcs } from '../wcs/index.js';
import { Job } from './job.js';
import type { Calibration } from '../protocol/models.js';
import { UPLOAD_OPTION_NAMES, type UploadOptions } from '../protocol/upload-options.js';
import { refuseUnknownOptions } from './known-options.js';
import type { FileResultKind, ResultFile } from '../protocol/result-kinds.js';
import { Session, checkTimeoutMs, type SessionOptions } from './session.js';
import { StartedSolve, type PersistedSolve, type WaitOptions } from './started-solve.js';
import { Submission } from './submission.js';
import { viewOf } from './solve-view.js';
import type { LocalExtractionOptions } from './local-extraction.js';
import type { SolveQuality } from './quality.js';
import { blindRetry, checkHeaderHints, mayHaveHeader, RETRY_BLIND_ON, type HeaderHintsMode, type SolveHints } from './hints.js';
import type { UploadDescriptor } from './solve-input.js';
import type { WireUploadOptions } from '../protocol/upload-options.js';

export interface ClientOptions extends SessionOptions {}

/** What one call to `solve()` or `submit()` may set for itself. */
export interface CallOptions {
  /** Cancels the solve: the request in flight is aborted and the call rejects with code `aborted`. */
  signal?: AbortSignal;
  /**
   * This solve's deadline, ms from the start, every request included (the upload too); `null` for
   * none. Default: the client's `timeoutMs`. It ends in TimeoutError with the subid and job id.
   */
  timeoutMs?: number | null;
}

export interface SolveOptions extends UploadOptions, CallOptions {
  /** Called with the Submission as soon as the solve starts: persist it, watch its state. */
  onStart?: (submission: Submission) => void;
  /**
   * Find the stars here (`extractSources`) and upload only their x/y list: the image never
   * leaves the machine. Not for URLs or source lists. The calibration's orientation is then
   * reported as for a FITS image, since nova cannot tell that the rows were a PNG's or JPEG's.
   */
  localExtraction?: boolean | LocalExtractionOptions;
  /**
   * Of a multi-extension FITS file, the HDU to solve (0 is the primary): it is cut out as a FITS
   * file of its own and uploaded (or extracted locally). `solveHdus()` solves every image HDU.
   */
  hdu?: number;
  /**
   * Hints from a FITS input's header (a path, bytes or a Blob): the pointing (OBJCTRA/OBJCTDEC,
   * RA/DEC or a WCS) as `centerRa`/`centerDec`/`radius`, and the pixel scale (FOCALLEN with
   * XPIXSZ, PIXSCALE, SECPIX or a WCS) as an `arcsecperpix` range of ±10 %. Your own position
   * or scale options win over the header's. Default `true`: when the hinted solve fails it is
   * uploaded once more with no hint (`result.retriedBlind`; `onStart` is called again with the
   * new Submission). That retry has a deadline of its own, a fresh `timeoutMs` from its start,
   * so a hinted solve that fails and is retried can take up to twice `timeoutMs` in all (abort
   * with `signal` to bound the whole call). `'strict'`: no such retry. `false`: the header is not read.
   */
  headerHints?: HeaderHintsMode;
}

/** One HDU's outcome in `solveHdus`. */
export interface HduSolve {
  /** The HDU's number in the file (0 is the primary). */
  hdu: number;
  result: SolveResult | null;
  /** `null` when solved. */
  error: AstrometryNetError | null;
}

/** Every option `solve()` and `submit()` take: the upload options and the call's own. */
const SOLVE_OPTION_NAMES: readonly string[] = [...UPLOAD_OPTION_NAMES, ...(['signal', 'timeoutMs', 'onStart', 'localExtraction', 'hdu', 'headerHints'] as const satisfies readonly (keyof SolveOptions)[])];
/** What `submit()` takes: no onStart and no localExtraction, which only `solve()` handles. */
const SUBMIT_OPTION_NAMES: readonly string[] = [...UPLOAD_OPTION_NAMES, ...(['signal', 'timeoutMs'] as const satisfies readonly (keyof CallOptions)[])];

/** A solved image: where it points, and its files on demand (each fetched once). */
export class SolveResult {
  readonly subid: number;
  readonly jobId: number;
  readonly calibration: Calibration;
  /** SHA-1 of the uploaded bytes, when the server reported it. */
  readonly hash: string | null;
  readonly job: Job;
  readonly submission: Submission;
  /** Milliseconds spent in each stage of the statechart, in order. */
  readonly timings: StageTimings;
  /**
   * The hints sent and where each came from; on a blind retry, the hints of the attempt that
   * failed, with its ids in `retryOf`. `null` when none was sent.
   */
  readonly hints: SolveHints | null;
  /** The hinted solve failed and this result is of a second upload, sent with no hint. */
  readonly retriedBlind: boolean;

  /** Answered by the client's `cache` (the same content solved before): nothing was uploaded. */
  readonly fromCache: boolean;

  /** Made by `Client.solve`; not meant to be called directly. */
  constructor(submission: Submission, job: Job, calibration: Calibration, fromCache = false) {
    this.fromCache = fromCache;
    const view = viewOf(submission.handle.snapshot);
    this.subid = view.subid as number;
    this.jobId = view.jobId ?? job.id;
    this.calibration = calibration;
    this.hash = view.hash;
    this.job = job;
    this.submission = submission;
    this.timings = view.timings;
    this.hints = view.hints;
    this.retriedBlind = view.hints?.retryOf != null;
  }

  wcsFile(options?: WaitOptions): Promise<ResultFile> {
    return this.job.wcsFile(options);
  }

  wcs(options?: WaitOptions): Promise<Wcs> {
    return this.job.wcs(options);
  }

  /** How good the solution is (see `Job.quality`): fetches the corr file once, and the WCS file unless it is in. */
  quality(options?: WaitOptions): Promise<SolveQuality> {
    return this.job.quality(options);
  }

  toJSON(): { subid: number; jobId: number; calibration: Calibration; hash: string | null; hints: SolveHints | null; retriedBlind: boolean } {
    return { subid: this.subid, jobId: this.jobId, calibration: this.calibration, hash: this.hash, hints: this.hints, retriedBlind: this.retriedBlind };
  }
}

export interface SolveManyOptions extends UploadOptions {
  /** Solves in flight at once (uploading, waiting or solving). Default 2. */
  concurrency?: number;
  /** Result files to fetch for each solved input, before it is yielded. */
  files?: FileResultKind[];
  /** Stops the batch: nothing new starts, solves in flight end as `aborted` (with their ids). */
  signal?: AbortSignal;
  /** Each solve's own deadline, ms from its start; `null` for none. Default: the client's `timeoutMs`. */
  timeoutMs?: number | null;
  /** The batch's progress after every change: its phase, and each live solve's state. */
  onProgress?: (progress: BatchProgress) => void;
  /** Hints from each FITS input's header, as for `solve()`. Default `true`. */
  headerHints?: HeaderHintsMode;
  /**
   * A sequence (frames of one session): solved in order, one at a time; each frame after a
   * solved one is hinted by that solution (its centre and radius plus a margin, its scale
   * ±10 %), and falls back to a blind upload when the hint was wrong (unless `headerHints` is
   * `'strict'`). `concurrency` is then 1.
   */
  sequence?: boolean;
}

/** One input's outcome in `solveMany`, in the order the solves finish. */
export interface SolveManyOutcome {
  /** Position of the input in the list given. */
  index: number;
  input: SolveInput;
  subid: number | null;
  jobId: number | null;
  calibration: Calibration | null;
  files: Partial<Record<FileResultKind, ResultFile>>;
  /** `null` when solved. */
  error: AstrometryNetError | null;
  /** The hints sent and where each came from (`retryOf` set when this is a blind retry); `null` when none. */
  hints: SolveHints | null;
  /** Solved before, found in the `cache` by its content: not uploaded (a file the cache lacks is fetched by job id). */
  fromCache: boolean;
}

export class Client {
  readonly session: Session;

  constructor(options: ClientOptions = {}) {
    this.session = new Session(options);
  }

  /** Uploads, waits for the solve and returns the calibration. Rejects with a typed error. */
  async solve(input: SolveInput, options: SolveOptions = {}): Promise<SolveResult> {
    refuseUnknownOptions(options, SOLVE_OPTION_NAMES, 'solve()');
    if (options.hdu !== undefined) {
      // One HDU, cut out of the file; the FITS reader loads only for the solves that ask.
      if ((options.hdu as unknown) === 'all') throw new ValidationError('hdu', 'all', "one HDU's number in solve(); solveHdus() solves every image HDU");
      const { hduParts } = await import('./hdu-input.js');
      const { hdu, ...rest } = options;
      input = (await hduParts(input, hdu))[0]?.input as SolveInput;
      options = rest;
    }
    const { headerHints, ...rest } = options;
    const mode = checkHeaderHints(headerHints);
    let hints: SolveHints | null = null;
    let hinted: Omit<SolveOptions, 'headerHints'> = rest;
    if (mode !== false && mayHaveHeader(input)) {
      // The FITS reader loads only for inputs that may have a header to read.
      const { hintedOptions } = await import('./header-hints.js');
      ({ options: hinted, hints } = await hintedOptions(input, rest, mode === 'strict'));
    }
    if (options.localExtraction !== undefined) {
      // The extractor and its decoders load only for the solves that ask for them.
      const { applyLocalExtraction } = await import('./local-extraction.js');
      ({ input, options: hinted } = await applyLocalExtraction(input, hinted));
    }
    const { onStart, localExtraction: _done, signal, timeoutMs, ...uploadOptions } = hinted;
    const deadline = timeoutMs === undefined ? this.session.timeoutMs : checkTimeoutMs(timeoutMs);
    const wait = signal ? { signal } : {};
    // With localExtraction the server saw only the stars: the calibration is made the image's (below).
    const image = options.localExtraction !== undefined && options.localExtraction !== false ? { width: uploadOptions.imageWidth as number, height: uploadOptions.imageHeight as number } : undefined;
    const finish = async (started: Submission, fromCache = false) => {
      const result = await this.#finish(started, wait, fromCache);
      if (!image) return result;
      const { imageCalibration } = await import('./local-extraction.js');
      return new SolveResult(started, result.job, imageCalibration(result.calibration, await result.wcs(wait), image.width, image.height), fromCache);
    };
    // With a cache, the content is looked up before any request (see cached-solve.ts).
    const cache = this.session.cache;
    const cached = cache ? await import('./cached-solve.js') : undefined;
    const key = cached ? await cached.keyOf(this.session, input, uploadOptions) : null;
    const hit = cached && cache && key !== null ? await cached.lookUp(cache, key) : undefined;
    if (cached && hit) {
      const restored = cached.restoreCached(hit, this.session);
      onStart?.(restored);
      return finish(restored, true);
    }
    const { upload, options: wire } = acceptUpload(input, uploadOptions, this.session.memory);
    const submission = this.#start(hints ? { ...upload, hints } : upload, wire, deadline, signal);
    onStart?.(submission);
    let result: SolveResult;
    try {
      result = await finish(submission);
    } catch (error) {
      // The hinted solve found nothing: once more with no hint, as a new upload of the same
      // descriptor (an in-memory input's bytes were kept for it, see solve-tasks).
      const code = (error as { code?: unknown }).code;
      const view = viewOf(submission.handle.snapshot);
      const retry = typeof code === 'string' && RETRY_BLIND_ON.includes(code) && !signal?.aborted ? blindRetry(wire, hints, view) : null;
      if (!retry) {
        // The bytes were kept for a retry that is not made (the caller aborted): free them.
        if (upload.kind === 'memory') this.session.memory.delete(upload.ref);
        throw error;
      }
      const again = this.#start({ ...upload, hints: retry.hints }, retry.options, deadline, signal);
      onStart?.(again);
      result = await finish(again);
    }
    if (cached && cache && key !== null) await cached.keepSolved(cache, key, result, this.session, wait);
    return result;
  }

  /** Starts a solve and returns its Submission at once (nothing is awaited). */
  submit(input: SolveInput, options: UploadOptions & CallOptions = {}): Submission {
    refuseUnknownOptions(options, SUBMIT_OPTION_NAMES, 'submit()');
    const { signal, timeoutMs, ...uploadOptions } = options;
    const deadline = timeoutMs === undefined ? this.session.timeoutMs : checkTimeoutMs(timeoutMs);
    const { upload, options: wire } = acceptUpload(input, uploadOptions, this.session.memory);
    return this.#start(upload, wire, deadline, signal);
  }

  #start(upload: UploadDescriptor, wire: WireUploadOptions, timeoutMs: number | null, signal: AbortSignal | undefined): Submission {
    const handle = new StartedSolve(this.session, {
      input: { upload, options: wire, schedule: this.session.schedule, timeoutMs },
    });
    handle.cancelOn(signal);
    handle.actor.send({ type: 'START' });
    return new Submission(handle);
  }

  /** Continues a persisted solve; never uploads again. `timeoutMs` is a fresh deadline from now. */
  resume(persisted: PersistedSolve, options: CallOptions = {}): Promise<SolveResult> {
    const submission = Submission.restore(persisted, this.session, options.timeoutMs === undefined ? {} : { timeoutMs: checkTimeoutMs(options.timeoutMs) });
    return this.#finish(submission, options.signal ? { signal: options.signal } : {});
  }

  /** The result of an existing job, by id. */
  async job(jobId: number, options: WaitOptions = {}): Promise<SolveResult> {
    const job = Job.byId(jobId, this.session);
    return this.#finish(new Submission(job.handle), options);
  }

  /**
   * Solves many inputs with a bounded number in flight, yielding each outcome as it finishes,
   * paired with its own input. One failure never stops the others. Every input and option is
   * validated before the first request. Breaking out of the loop stops the batch.
   */
  async *solveMany(inputs: Iterable<SolveInput>, options: SolveManyOptions = {}): AsyncGenerator<SolveManyOutcome, void, undefined> {
    // The batch machine is loaded by the first solveMany: a single solve never needs it.
    const { solveMany } = await import('./solve-many.js');
    yield* solveMany(this.session, inputs, options);
  }

  /**
   * Solves the image HDUs of a multi-extension FITS file, each as a FITS file of its own: every
   * HDU with a 2-D image (`hdu: 'all'`, the default) or one. `concurrency` of them are in flight
   * at once (default 2, as `solveMany`: a mosaic camera's 16 HDUs need not wait for each other,
   * nor all land on a shared server at once). Each HDU's outcome is paired with its number, in
   * the file's order; one failing never stops the others. Put the solutions back in a copy of
   * the file with `mergeWcsIntoHdus` (`astrometry-net-client/fits`).
   */
  async solveHdus(input: SolveInput, options: Omit<SolveOptions, 'hdu' | 'onStart'> & { hdu?: number | 'all'; concurrency?: number } = {}): Promise<HduSolve[]> {
    const { hdu = 'all', concurrency = 2, ...rest } = options;
    refuseUnknownOptions(rest, SOLVE_OPTION_NAMES, 'solveHdus()');
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new ValidationError('concurrency', concurrency, 'an integer from 1 to 64');
    const { hduParts } = await import('./hdu-input.js');
    const parts = await hduParts(input, hdu);
    const out: HduSolve[] = new Array(parts.length);
    let next = 0;
    // An abort or a refused option ends the call: no HDU after it starts, and it is thrown.
    let fatal: { error: unknown } | undefined;
    const worker = async () => {
      while (next < parts.length && !fatal) {
        const index = next++;
        const part = parts[index] as (typeof parts)[number];
        try {
          out[index] = { hdu: part.hdu, result: await this.solve(part.input, rest), error: null };
        } catch (error) {
          if (!(error instanceof AstrometryNetError) || error.code === 'aborted' || error.code === 'validation') {
            fatal ??= { error };
            return;
          }
          out[index] = { hdu: part.hdu, result: null, error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, parts.length) }, worker));
    if (fatal) throw fatal.error;
    return out;
  }

  /** Solves a file and returns its WCS (header cards in `.header`), as the seed's `calibrate_file_wcs`. */
  async calibrateFileWcs(path: string, options: SolveOptions = {}): Promise<Wcs> {
    return (await this.solve({ file: path }, options)).wcs(options.signal ? { signal: options.signal } : {});
  }

  async #finish(submission: Submission, wait: WaitOptions, fromCache = false): Promise<SolveResult> {
    const job = await submission.untilDone(wait);
    await job.untilDone(wait);
    return new SolveResult(submission, job, await job.calibration(wait), fromCache);
  }
}
