/**
 * An image local extraction cannot read, or will not decode because it would not fit the
 * memory budget. Hostile files (a header that claims 100 000 pixels a side, a decompression
 * bomb, a truncated or mislabelled file) end here, typed, before the memory is spent.
 */
import { AstrometryNetError } from '../errors.js';

export type ImageErrorCode = 'invalid_image' | 'invalid_fits' | 'image_too_large';

export class ImageError extends AstrometryNetError {
  override readonly code: ImageErrorCode;
  /** What the file is (`fits`, `png`, `jpeg`), when that much could be told. */
  readonly format: string | undefined;
  /** The size its header declares, when read. */
  readonly width: number | undefined;
  readonly height: number | undefined;
  /** The pixel budget it exceeded (`image_too_large`). */
  readonly limit: number | undefined;

  constructor(code: ImageErrorCode, message: string, details: { format?: string; width?: number; height?: number; limit?: number; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? {} : { cause: details.cause });
    this.code = code;
    this.format = details.format;
    this.width = details.width;
    this.height = details.height;
    this.limit = details.limit;
  }
}
