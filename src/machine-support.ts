/**
 * Pieces the machines share: placeholders for actors a runtime must provide, turning whatever
 * an actor threw into a plain error record for the context, and the one-relogin rule.
 */
import type { SerializedError } from './errors.js';

/** An actor body that says which runtime should have provided it. */
export const notProvided = (name: string, provider: string) => async (): Promise<never> => {
  throw new Error(`The "${name}" actor has no implementation: create the machine with ${provider}().`);
};

/** A context-safe record of an error: the library's own `toJSON`, or a plain network error. */
export function serialiseError(error: unknown): SerializedError {
  const e = error as { toJSON?: () => SerializedError; message?: unknown };
  if (typeof e?.toJSON === 'function') return e.toJSON();
  return { name: 'Error', code: 'network', message: error instanceof Error ? error.message : String(e?.message ?? error) };
}

/** The server dropped the session, and this flow has not logged in again yet: do it once. */
export function sessionExpiredOnce(relogins: number, event: unknown): boolean {
  return relogins === 0 && (event as { error?: { name?: string } }).error?.name === 'SessionExpiredError';
}
