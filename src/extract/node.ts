/**
 * `astrometry-net-client/extract` in Node: the same, with the Node platform installed, so that
 * `extractSources('m42.fits')` reads the path (a browser passes bytes or a Blob instead).
 */
import '../platform/node-platform.js';

export * from './index.js';
