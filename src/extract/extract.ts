/**
 * `extractSources`: a sky image (FITS, PNG or JPEG; a path in Node, bytes or a Blob anywhere)
 * to its stars, brightest first, in the pixel convention of nova's x/y lists.
 */
import { differenceSigma, estimateBackground, subtractBackground } from './background.js';
import { decodeImage, type GreyImage } from './decode-image.js';
import { detect } from './detect.js';
import { platform } from '../platform/web-platform.js';

/** A path (Node only), the file's bytes, or a Blob/File. */
export type ExtractInput = string | Uint8Array | ArrayBuffer | Blob;

export interface ExtractOptions {
  /** Detection threshold in noise sigmas of the smoothed image (image2xy's default: 8). */
  threshold?: number;
  /** Gaussian sigma of a star, pixels (image2xy's default: 1). */
  psfSigma?: number;
  /** Side of a background mesh cell, pixels. Default 64. */
  meshSize?: number;
  /** Keep at most this many sources (the brightest). Default: all. */
  maxSources?: number;
  /**
   * Largest image decoded, in pixels (width × height), checked against the file's header before
   * any pixel is decoded: a larger one is an ImageError `image_too_large`. Default 250 million.
   */
  maxPixels?: number;
}

export interface ExtractedSources {
  /**
   * Source positions in the FITS 1-based convention (the centre of the first pixel is 1, 1),
   * which is what nova and solve-field read from an x/y list. For PNG and JPEG, y = 1 is the
   * top row, as solve-field's own conversion of such an image.
   */
  x: number[];
  y: number[];
  /** Background-subtracted flux in an aperture of about 2.5 PSF sigmas, in image units. */
  flux: number[];
  imageWidth: number;
  imageHeight: number;
  /** The sky noise (one pixel's sigma) the threshold was set from. */
  noise: number;
}

async function bytesOf(input: ExtractInput): Promise<Uint8Array> {
  if (typeof input === 'string') return platform().readFile(input);
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  return new Uint8Array(await input.arrayBuffer());
}

/** The noise of an image without measurable noise: its quantisation, or a tiny share of its range. */
function noiseFloor(image: GreyImage): number {
  if (image.quantised) return 1 / Math.sqrt(12);
  let max = 0;
  for (const v of image.data) if (Math.abs(v) > max) max = Math.abs(v);
  return Math.max(Number.MIN_VALUE, max * 1e-7);
}

/**
 * Finds the stars of a sky image, as Debian's `image2xy` does, with no upload: a sky
 * background and noise estimated on a mesh with sigma clipping, detection above `threshold`
 * sigmas in an image smoothed to the PSF, deblending of close pairs split by a significant dip,
 * and sub-pixel centroids. Runs in Node and in browsers (and Web Workers).
 *
 * @example
 * ```ts
 * const stars = await extractSources('m42.fits');
 * const result = await client.solve({ sourceList: stars }, { imageWidth: stars.imageWidth, imageHeight: stars.imageHeight });
 * ```
 */
export async function extractSources(input: ExtractInput, options: ExtractOptions = {}): Promise<ExtractedSources> {
  const image = await decodeImage(await bytesOf(input), options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels });
  const { width, height, data } = image;
  const measured = differenceSigma(data, width, height);
  const background = estimateBackground(data, width, height, options.meshSize ?? 64);
  subtractBackground(data, width, height, background);
  const noise = measured > 0 ? measured : noiseFloor(image);
  const found = detect(data, width, height, { psfSigma: options.psfSigma ?? 1, threshold: options.threshold ?? 8, sigma: noise });
  found.sort((a, b) => b.flux - a.flux);
  const kept = options.maxSources === undefined ? found : found.slice(0, options.maxSources);
  return {
    x: kept.map((s) => s.x + 1),
    y: kept.map((s) => s.y + 1),
    flux: kept.map((s) => s.flux),
    imageWidth: width,
    imageHeight: height,
    noise,
  };
}
