/**
 * The seed library's upload classes: describe what to upload, then `submit()` it.
 * Options are validated when the upload is constructed, before any request.
 */
import { acceptUpload, type SolveInput, type SourceList, type UploadDescriptor } from './solve-input.js';
import type { UploadOptions, WireUploadOptions } from '../protocol/upload-options.js';
import type { Session } from './session.js';
import { StartedSolve, milestones, type WaitOptions } from './started-solve.js';
import { Submission } from './submission.js';

export interface UploadConfig {
  session: Session;
  options?: UploadOptions;
}

abstract class Upload {
  readonly session: Session;
  readonly descriptor: UploadDescriptor;
  readonly wireOptions: WireUploadOptions;

  protected constructor(input: SolveInput, config: UploadConfig) {
    this.session = config.session;
    const { upload, options } = acceptUpload(input, config.options, config.session.memory);
    this.descriptor = upload;
    this.wireOptions = options;
  }

  /** Logs in if needed and uploads; resolves once the server gave a submission id. */
  async submit(options: WaitOptions = {}): Promise<Submission> {
    const submission = this.start();
    await submission.handle.reach(milestones.submitted, options);
    return submission;
  }

  /** Starts the solve without waiting: the Submission's machine takes it from here. */
  start(): Submission {
    const handle = new StartedSolve(this.session, {
      input: { upload: this.descriptor, options: this.wireOptions, schedule: this.session.schedule, timeoutMs: this.session.timeoutMs },
    });
    handle.actor.send({ type: 'START' });
    return new Submission(handle);
  }
}

/** An image file from disk (streamed), or bytes or a Blob in memory. */
export class FileUpload extends Upload {
  constructor(file: string | { bytes: Uint8Array; filename?: string } | { blob: Blob; filename?: string }, config: UploadConfig) {
    super(typeof file === 'string' ? { file } : file, config);
  }
}

/** An image the server fetches from a URL. */
export class UrlUpload extends Upload {
  constructor(url: string, config: UploadConfig) {
    super({ url }, config);
  }
}

/** Star positions instead of an image; give `imageWidth`/`imageHeight` in the options. */
export class SourceListUpload extends Upload {
  constructor(sourceList: SourceList, config: UploadConfig) {
    super({ sourceList }, config);
  }
}
