export * from './solve.machine.js';
export * from './batch.machine.js';
export * from './account.machine.js';
export * from './child-solve.machine.js';
