export { Wcs, WcsError, type PixelPoint, type SkyPoint } from './wcs.js';
export type { SipPolynomial } from './sip.js';
