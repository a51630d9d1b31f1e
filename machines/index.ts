export * from './solve.machine.js';
export * from './batch.machine.js';
