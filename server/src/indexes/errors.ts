/** Typed failures of `astrometry-net indexes`, each with a string code a caller can branch on. */

/** A downloaded file is not the index it should be: refused, and never left under its final name. */
export class InvalidIndexError extends Error {
  override name = 'InvalidIndexError';
  readonly code = 'invalid_index';
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file} is not a valid astrometry.net index file: ${reason}`);
  }
}

/** The mirror answered, but not with the file (HTTP status, missing size); retrying will not help. */
export class MirrorError extends Error {
  override name = 'MirrorError';
  readonly code = 'mirror_refused';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`${url}: ${reason}`);
  }
}

/** The transfer broke off (connection lost, stalled); what arrived is kept for a resume. */
export class DownloadCutError extends Error {
  override name = 'DownloadCutError';
  readonly code = 'download_cut';
  constructor(
    readonly url: string,
    readonly received: number,
    readonly total: number,
    cause: unknown,
  ) {
    super(`${url}: the transfer broke off at ${received} of ${total} bytes (${(cause as Error)?.message ?? String(cause)})`, { cause });
  }
}

/** The file could not be written (disk full, folder not writable): what was written stays for a resume. */
export class IndexWriteError extends Error {
  override name = 'IndexWriteError';
  readonly code = 'write_failed';
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(`cannot write ${file}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** A command line `astrometry-net indexes` cannot run: said before any request. */
export class IndexesUsageError extends Error {
  override name = 'IndexesUsageError';
  readonly code = 'usage';
}
