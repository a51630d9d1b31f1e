/**
 * The browser entry point (package.json's "browser" condition): the core on \`fetch\`, with no
 * Node module anywhere in its import graph.
 */
export * from './core.js';
