/** A FITS file that cannot be read: a missing END, a bad BITPIX, a truncated data unit. */
export class FitsError extends Error {
  readonly code = 'invalid_fits';

  constructor(message: string) {
    super(message);
    this.name = 'FitsError';
  }
}
