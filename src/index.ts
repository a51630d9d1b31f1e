/**
 * The Node entry point: the core, with undici as the default transport and the API key file.
 */
import './platform-node.js';

export * from './core.js';
export { keyFilePath, nodePlatform } from './platform-node.js';
export { undiciTransport, type UndiciTransportOptions } from './transport/undici.js';
export { createNodeInspector, type NodeInspector, type NodeInspectorOptions } from './inspect-node.js';
export { createOfflineInspector, drawMachine, type OfflineInspector, type OfflineInspectorOptions, type StateDrawing } from './inspect-offline.js';
