/**
 * Where requests go: `--api-url`/`--api-key` (else ASTROMETRY_API_URL / ASTROMETRY_API_KEY /
 * the key file, as the library resolves them), or `--local`: the embedded nova-compatible
 * server, started on a free port with a generated key. Every request still goes through the
 * library's Session and its statecharts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { InspectionEvent } from 'xstate';
import type { Session } from '../client/session.js';
import type { RequestEvent } from '../tasks/dependencies.js';
import { UsageError, type FlagSpec, type Flags } from './args.js';
import { loadServerPackage } from './server-package.js';

export const CONNECTION_FLAGS: readonly FlagSpec[] = [
  { name: 'api-url', type: 'string', multiple: true },
  { name: 'shared-store', type: 'boolean' },
  { name: 'api-key', type: 'string' },
  { name: 'local', type: 'boolean' },
  { name: 'local-solver', type: 'string' },
  { name: 'timeout', type: 'string' },
];

export const LOCAL_DIR = '.astrometry-net-local';

export interface Connection {
  session: Session;
  /** Identifies the server for the journal: the API URL, or `local`. */
  serverId: string;
  /** Human description for messages. */
  description: string;
  local: boolean;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** Where `--local` keeps its server state (so a rerun can resume). */
  outDir: string;
  onRequest?: (event: RequestEvent) => void;
  /** Every actor of the session reports to it (`--inspect`); the Session sanitizes the events. */
  inspect?: (event: InspectionEvent) => void;
}

/** `--verbose`: each request's method and URL on stderr (what `onRequest` sees: never a key). */
export function verboseRequests(flags: Flags, stderr: { write(text: string): unknown }): Pick<ConnectOptions, 'onRequest'> {
  return flags.bool('verbose') ? { onRequest: (e) => void stderr.write(`${e.method} ${e.url}\n`) } : {};
}

function generatedKey(): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  return Array.from(randomBytes(16), (b) => letters[b % 26]).join('');
}

/**
 * Fails now, with AuthError (exit 3), when a command that logs in has no key to log in with:
 * before anything is printed or sent, instead of at the first login. `--local` makes its own.
 */
export async function requireApiKey(flags: Flags): Promise<void> {
  if (flags.bool('local')) return;
  const { resolveApiKey } = await import('../client/session.js');
  await import('../index.js');
  resolveApiKey(flags.string('api-key'));
}

export async function connect(flags: Flags, options: ConnectOptions): Promise<Connection> {
  // Loaded here, not at startup: the HTTP stack is most of the CLI's start time, and usage
  // errors and --help need none of it.
  // The package's Node entry: it also registers the Node platform (transport, key file).
  const { Session } = await import('../index.js');
  const timeoutSeconds = flags.positiveNumber('timeout');
  const timeoutMs = timeoutSeconds === undefined ? undefined : Math.round(timeoutSeconds * 1000);
  const common = {
    ...(options.onRequest ? { onRequest: options.onRequest } : {}),
    ...(options.inspect ? { inspect: options.inspect } : {}),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  };

  if (flags.bool('local')) {
    if (flags.has('api-url') || flags.has('api-key')) {
      throw new UsageError('--local runs its own server: drop --api-url and --api-key, or drop --local.');
    }
    const solver = flags.string('local-solver') ?? 'solve-field';
    if (solver !== 'solve-field' && solver !== 'simulated') {
      throw new UsageError(`Invalid value for --local-solver: "${solver}". Allowed: "solve-field" (the real solver) or "simulated".`);
    }
    const { startServer } = await loadServerPackage('--local');
    const dataDir = join(options.outDir, LOCAL_DIR);
    mkdirSync(dataDir, { recursive: true });
    const apiKey = generatedKey();
    let server;
    try {
      server = await startServer({ host: '127.0.0.1', port: 0, apiKeys: [apiKey], solver, dataDir });
    } catch (error) {
      throw new LocalServerError(`Could not start the local server: ${(error as Error).message}`);
    }
    try {
      const session = new Session({ ...common, apiKey, apiUrl: server.url });
      return {
        session,
        serverId: 'local',
        description: `the local server (${solver}, ${server.url})`,
        local: true,
        close: () => server.close(),
      };
    } catch (error) {
      await server.close();
      throw error;
    }
  }
  if (flags.has('local-solver')) throw new UsageError('--local-solver goes with --local.');

  // Repeated, --api-url spreads the solves over several servers.
  const apiUrls = flags.list('api-url');
  const apiKey = flags.string('api-key');
  // The key is read at the first login: status and results, which read public endpoints only,
  // run without one.
  const session = new Session({
    ...common,
    ...(apiUrls.length === 1 ? { apiUrl: apiUrls[0] as string } : apiUrls.length > 1 ? { apiUrl: apiUrls } : {}),
    ...(flags.bool('shared-store') ? { sharedStore: true } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
  });
  return {
    session,
    serverId: [...session.apiUrls].sort().join(' '),
    description: session.apiUrls.join(', '),
    local: false,
    close: async () => undefined,
  };
}

export class LocalServerError extends Error {
  override name = 'LocalServerError';
}

/** `--inspect` could not start: @statelyai/inspect is missing, or the port is taken. Exit 1. */
export class InspectorError extends Error {
  override name = 'InspectorError';
}

export interface CliInspector {
  inspect: (event: InspectionEvent) => void;
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the inspector for `--inspect`: the offline page (drawn here, works with no network), or
 * with `stately` the Stately inspector's page (online; needs @statelyai/inspect). Loaded only then.
 */
export async function startInspector(kind: 'offline' | 'stately' = 'offline'): Promise<CliInspector> {
  try {
    if (kind === 'offline') {
      const { createOfflineInspector } = await import('../inspect/offline-inspector.js');
      return await createOfflineInspector();
    }
    const { createNodeInspector } = await import('../inspect/node-inspector.js');
    return await createNodeInspector();
  } catch (error) {
    throw new InspectorError(`--inspect: ${(error as Error).message}`);
  }
}
