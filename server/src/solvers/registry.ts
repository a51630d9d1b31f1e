/**
 * Picks a solver backend by name. `solve-field` is loaded lazily so that the simulated
 * backend (tests, demos) never needs the real solver's module or binaries.
 */
import type { SolverBackend } from '../solver-backend.js';
import { createSimulatedBackend, type SimulatedSolverOptions } from './simulated.js';

export type SolverName = 'simulated' | 'solve-field';
export const SOLVER_NAMES: readonly SolverName[] = ['simulated', 'solve-field'];

export interface BackendContext {
  simulated?: SimulatedSolverOptions;
  /** solve-field: index directories added to the system's. */
  indexDirs?: string[];
  /** solve-field: also search the directories of /etc/astrometry.cfg (default true). */
  systemIndexes?: boolean;
  /** solve-field: the pixel budget checked before solving. */
  maxPixels?: number;
  log?: (line: string) => void;
}

type SolveFieldModule = {
  createSolveFieldBackend?: (options?: {
    log?: (line: string) => void;
    indexDirs?: string[];
    systemIndexes?: boolean;
    maxPixels?: number;
  }) => SolverBackend | Promise<SolverBackend>;
};

export async function createBackend(
  choice: SolverName | SolverBackend | undefined,
  ctx: BackendContext = {},
): Promise<SolverBackend> {
  if (choice !== undefined && typeof choice === 'object') return choice;
  const name = choice ?? 'solve-field';
  if (name === 'simulated') return createSimulatedBackend(ctx.simulated);
  if (name === 'solve-field') {
    // A variable specifier keeps the type checker from requiring the module at build time.
    const specifier = './solve-field/backend.js';
    let mod: SolveFieldModule;
    try {
      mod = (await import(specifier)) as SolveFieldModule;
    } catch (err) {
      throw new Error(`the solve-field backend could not be loaded: ${(err as Error).message}`, { cause: err });
    }
    if (typeof mod.createSolveFieldBackend !== 'function') {
      throw new Error('the solve-field backend module does not export createSolveFieldBackend');
    }
    return mod.createSolveFieldBackend({
      ...(ctx.log ? { log: ctx.log } : {}),
      ...(ctx.indexDirs ? { indexDirs: ctx.indexDirs } : {}),
      ...(ctx.systemIndexes !== undefined ? { systemIndexes: ctx.systemIndexes } : {}),
      ...(ctx.maxPixels !== undefined ? { maxPixels: ctx.maxPixels } : {}),
    });
  }
  throw new Error(`unknown solver "${String(name)}"; allowed: ${SOLVER_NAMES.join(', ')}`);
}
