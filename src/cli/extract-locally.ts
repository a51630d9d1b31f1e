/**
 * `solve --local-extraction`: an image file becomes the source list of its brightest stars
 * before the batch starts, so only x/y positions are uploaded. The input stays a file for
 * everything else (the journal, and merging the WCS into a FITS input for --out).
 */
import type { SolveInput } from '../client/solve-input.js';
import { applyLocalExtraction } from '../client/local-extraction.js';
import type { UploadOptions, WireUploadOptions } from '../protocol/upload-options.js';

export async function extractForUpload(path: string, wire: WireUploadOptions): Promise<{ source: SolveInput; wire: WireUploadOptions }> {
  const { input, options } = await applyLocalExtraction<UploadOptions & { localExtraction: true }>({ file: path }, { localExtraction: true });
  const size = options as { imageWidth: number; imageHeight: number };
  return { source: input, wire: { ...wire, image_width: wire.image_width ?? size.imageWidth, image_height: wire.image_height ?? size.imageHeight } };
}
