/**
 * The server lives in its own package, `astrometry-net-server`, so that installing the client
 * brings no database driver and no native module. `astrometry-net serve` and `solve --local`
 * load it on demand; without it they say the one command that installs it.
 */
import { UsageError } from './args.js';

/** What the CLI uses of the server package (kept here: the client does not depend on it). */
export interface ServerPackage {
  runServe(argv: string[]): Promise<number>;
  /** `astrometry-net indexes`; absent from server packages older than 0.2.0. */
  runIndexes?(argv: string[]): Promise<number>;
  startServer(options: {
    host: string;
    port: number;
    apiKeys: string[];
    solver: 'solve-field' | 'simulated';
    dataDir: string;
  }): Promise<{ url: string; close(): Promise<void> }>;
}

export const SERVER_PACKAGE = 'astrometry-net-server';
export const INSTALL_SERVER = `npm install ${SERVER_PACKAGE}`;

export async function loadServerPackage(command: string): Promise<ServerPackage> {
  // A variable specifier: the client's build and types must not require the server package.
  const specifier: string = SERVER_PACKAGE;
  const cliSpecifier = `${SERVER_PACKAGE}/cli`;
  try {
    const [main, cli] = await Promise.all([import(specifier), import(cliSpecifier)]);
    return { startServer: main.startServer, runServe: cli.runServe, runIndexes: cli.runIndexes } as ServerPackage;
  } catch (error) {
    if (isMissing(error)) {
      throw new UsageError(`${command} needs the server package (${SERVER_PACKAGE}), which is not installed.`, `Install it with: ${INSTALL_SERVER}`);
    }
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') &&
    typeof e.message === 'string' &&
    e.message.includes(`'${SERVER_PACKAGE}`)
  );
}
