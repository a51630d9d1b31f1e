/**
 * `solve(input, { localExtraction: true })`: the stars are found here and only their x/y list
 * is uploaded, so the image never leaves the machine. A step at the client's edge, before the
 * statechart: the machine sees an ordinary source-list upload.
 */
import { AstrometryNetError, ValidationError } from '../errors.js';
import type { ExtractInput, ExtractOptions } from '../extract/index.js';
import type { SolveInput } from './solve-input.js';
import { readStream } from './read-stream.js';
import type { UploadOptions } from '../protocol/upload-options.js';
import type { Calibration } from '../protocol/models.js';
import type { Wcs } from '../wcs/index.js';
import { separationArcsec } from '../wcs/separation.js';

export interface LocalExtractionOptions extends ExtractOptions {
  /**
   * The brightest sources to upload; default 100, plenty for astrometry.net's quads. Positions
   * are sent to 0.01 px.
   */
  maxSources?: number;
}

export const DEFAULT_UPLOADED_SOURCES = 100;

function extractInput(input: SolveInput): ExtractInput {
  if (typeof input === 'string' && !/^https?:\/\//i.test(input)) return input;
  if (typeof input === 'object' && input !== null) {
    if ('file' in input) return input.file;
    if ('bytes' in input) return input.bytes;
    if ('blob' in input) return input.blob;
  }
  throw new ValidationError('localExtraction', true, 'an image given as a path, { file }, { bytes } or { blob } (a URL, a stream or a source list has no pixels here to extract from)');
}

const round = (v: number): number => Math.round(v * 100) / 100;

/**
 * The input and options to submit: unchanged without `localExtraction`; with it, the image's
 * brightest sources as a source list, and its size as `imageWidth`/`imageHeight` unless given.
 */
export async function applyLocalExtraction<O extends UploadOptions & { localExtraction?: boolean | LocalExtractionOptions }>(
  input: SolveInput,
  options: O,
): Promise<{ input: SolveInput; options: Omit<O, 'localExtraction'> }> {
  const { localExtraction, ...rest } = options;
  if (localExtraction === undefined || localExtraction === false) return { input, options: rest };
  if (localExtraction !== true && (typeof localExtraction !== 'object' || localExtraction === null)) {
    throw new ValidationError('localExtraction', localExtraction, 'true, false or { maxSources, threshold, psfSigma, meshSize, maxPixels }');
  }
  const settings: LocalExtractionOptions = localExtraction === true ? {} : localExtraction;
  const source = typeof input === 'object' && input !== null && 'stream' in input ? await readStream(input.stream) : extractInput(input);
  let found;
  try {
    // Loaded only when asked for: the decoders and the detector are most of the library's
    // weight, and a browser bundle of Client alone should not carry them.
    const { extractSources } = await import('../extract/index.js');
    found = await extractSources(source, { ...settings, maxSources: settings.maxSources ?? DEFAULT_UPLOADED_SOURCES });
  } catch (error) {
    // A typed error (a path that cannot be read, an image that cannot be decoded or is over the
    // pixel budget) reaches the caller as it is.
    if (error instanceof AstrometryNetError) throw error;
    throw new ValidationError('localExtraction', true, `a FITS, PNG or JPEG image to extract stars from (${(error as Error).message})`);
  }
  if (found.x.length === 0) throw new ValidationError('localExtraction', true, 'an image with stars: none was found above the detection threshold');
  return {
    input: { sourceList: { x: found.x.map(round), y: found.y.map(round) } },
    options: { ...rest, imageWidth: rest.imageWidth ?? found.imageWidth, imageHeight: rest.imageHeight ?? found.imageHeight },
  };
}

/**
 * The calibration of the whole image. For an x/y list the server knows only the stars' extent,
 * and centres the calibration on it (33–140″ off on our fixtures); the WCS it solved, taken over
 * the image's own width and height, gives the image's centre, size and radius. The scale,
 * orientation and parity are the server's.
 */
export function imageCalibration(server: Calibration, wcs: Wcs, width: number, height: number): Calibration {
  const centre = wcs.pixelToSky((width + 1) / 2, (height + 1) / 2);
  const corners = [wcs.pixelToSky(0.5, 0.5), wcs.pixelToSky(width + 0.5, 0.5), wcs.pixelToSky(width + 0.5, height + 0.5), wcs.pixelToSky(0.5, height + 0.5)];
  return {
    ...server,
    ra: centre.ra,
    dec: centre.dec,
    radius: Math.max(...corners.map((c) => separationArcsec(centre.ra, centre.dec, c.ra, c.dec))) / 3600,
    width_arcsec: width * wcs.pixelScale,
    height_arcsec: height * wcs.pixelScale,
  };
}
