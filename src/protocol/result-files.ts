/**
 * Where each result file is downloaded from and what it must be: the content types a real file
 * can have (so an HTML error page served with HTTP 200, as nova does for `new_fits_file` and
 * the plots, is never mistaken for the file), a name to save it under, and a size cap of its
 * kind. Read by the downloads, which load on the first file fetched.
 */
import type { FileResultKind } from './result-kinds.js';

export interface FileKindSpec {
  /** Path under the site root; the job id is appended. */
  readonly path: string;
  /** Accepted Content-Type prefixes. */
  readonly accepts: readonly string[];
  /** A name to save the file under. */
  readonly filename: string;
  /** What the bytes must be: a FITS file starts with its header; the rest must not be empty. */
  readonly format: 'fits' | 'image' | 'text';
  /**
   * The most bytes this kind can honestly take, below the client's maxFileBytes: a WCS is a
   * header, a star table a few megabytes. A larger answer is refused as it arrives, never held.
   */
  readonly maxBytes?: number;
  /**
   * Every solved job has this file (an image upload or an x/y list alike), so a page in its
   * place is the front end's and is asked again until the deadline. The plots and the new FITS
   * exist only for image uploads: a page there may be for good.
   */
  readonly everySolve?: true;
}

const MiB = 1024 * 1024;

const FITS = ['application/fits', 'image/fits', 'application/octet-stream'] as const;

/** Every file kind's spec; its keys are `FILE_RESULT_KINDS`. */
export const FILE_RESULTS: Readonly<Record<FileResultKind, FileKindSpec>> = {
  wcs: { path: 'wcs_file', accepts: FITS, filename: 'wcs.fits', format: 'fits', maxBytes: 4 * MiB, everySolve: true },
  newFits: { path: 'new_fits_file', accepts: FITS, filename: 'new-image.fits', format: 'fits' },
  rdls: { path: 'rdls_file', accepts: FITS, filename: 'rdls.fits', format: 'fits', maxBytes: 64 * MiB, everySolve: true },
  axy: { path: 'axy_file', accepts: FITS, filename: 'axy.fits', format: 'fits', maxBytes: 64 * MiB, everySolve: true },
  corr: { path: 'corr_file', accepts: FITS, filename: 'corr.fits', format: 'fits', maxBytes: 64 * MiB, everySolve: true },
  imageRd: { path: 'image_rd_file', accepts: FITS, filename: 'image-radec.fits', format: 'fits', maxBytes: 64 * MiB },
  annotatedDisplay: { path: 'annotated_display', accepts: ['image/'], filename: 'annotated-display.jpg', format: 'image' },
  annotatedFull: { path: 'annotated_full', accepts: ['image/'], filename: 'annotated-full.jpg', format: 'image' },
  redGreenDisplay: { path: 'red_green_image_display', accepts: ['image/'], filename: 'red-green-display.png', format: 'image' },
  redGreenFull: { path: 'red_green_image_full', accepts: ['image/'], filename: 'red-green-full.png', format: 'image' },
  extractionDisplay: { path: 'extraction_image_display', accepts: ['image/'], filename: 'extraction-display.png', format: 'image' },
  extractionFull: { path: 'extraction_image_full', accepts: ['image/'], filename: 'extraction-full.png', format: 'image' },
  joblog: { path: 'joblog', accepts: ['text/plain'], filename: 'job.log', format: 'text', maxBytes: 16 * MiB },
};

