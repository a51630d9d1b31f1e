export * from './solve.machine.js';
