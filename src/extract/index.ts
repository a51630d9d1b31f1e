/**
 * Star extraction on this machine: the x/y list that nova needs instead of the image.
 */
export { extractSources, type ExtractInput, type ExtractOptions, type ExtractedSources } from './extract.js';
export { decodeImage, DEFAULT_MAX_PIXELS, type DecodeOptions, type GreyImage } from './decode-image.js';
export { ImageError, type ImageErrorCode } from './image-error.js';
export { jpegFrame, jpegFrameWalk, JPEG_MARKER_HEAD, type JpegFrame } from './jpeg-frame.js';
