/**
 * Star extraction on this machine: the x/y list that nova needs instead of the image.
 */
export { extractSources, type ExtractInput, type ExtractOptions, type ExtractedSources } from './extract.js';
export { decodeImage, type GreyImage } from './decode-image.js';
