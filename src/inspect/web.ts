/**
 * `astrometry-net-client/inspect` in a browser: the sanitizing wrapper for any inspector (the
 * Stately one included) and the Mermaid drawing. The local inspector pages need Node.
 */
export { sanitizedInspector, sanitizeForInspection, type InspectObserver } from './sanitize.js';
export { toMermaid } from './diagram.js';
