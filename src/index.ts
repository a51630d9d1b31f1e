/**
 * The Node entry point: the core, with undici as the default transport and the API key file.
 */
import './platform/node-platform.js';

export * from './core.js';
export { keyFilePath } from './platform/node-platform.js';
export { undiciTransport, type UndiciTransportOptions } from './transport/undici.js';
