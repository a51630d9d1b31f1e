/**
 * The narrow SQL seam both engines implement: parameterised queries (`?` placeholders), and
 * transactions. The drivers are loaded only when `serve` opens a store, so a client-only install
 * never needs them (they are optionalDependencies).
 */
export type SqlParam = string | number | bigint | boolean | null | undefined;

export interface Queryable {
  all<T>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlParam[]): Promise<T | undefined>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly SqlParam[]): Promise<number>;
}

export interface Db extends Queryable {
  readonly dialect: 'sqlite' | 'postgres';
  /** Runs `fn` in one transaction; queries inside must go through the handle it gets. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Several statements at once (migrations). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

export class StoreError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** Loads an optional driver with a message that says what to install. */
export async function loadDriver<T>(name: string): Promise<T> {
  try {
    // A variable specifier: the type checker and bundlers must not pull the driver in eagerly.
    const spec = name;
    return (await import(spec)) as T;
  } catch (err) {
    throw new StoreError(`the ${name} package is needed for this store but could not be loaded (npm install ${name}): ${(err as Error).message}`, {
      cause: err,
    });
  }
}
