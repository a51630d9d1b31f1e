/**
 * `astrometry-net-client/inspect`: watching the statecharts. Every event an inspector sees is
 * sanitized first (no API key, session key or file bytes). In Node, two local pages as well:
 * the offline one drawn from the machine definitions, and one for the Stately inspector.
 */
export * from './web.js';
export { createNodeInspector, type NodeInspector, type NodeInspectorOptions } from './node-inspector.js';
export { createOfflineInspector, drawMachine, type OfflineInspector, type OfflineInspectorOptions, type StateDrawing } from './offline-inspector.js';
