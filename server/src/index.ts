/**
 * A nova-compatible (nova.astrometry.net) HTTP server on `node:http`.
 *
 * It speaks the API quirk by quirk (see docs/nova-protocol.md), so any nova client works against it
 * unchanged: the project's own client is tested against it (with fault injection), and users
 * run it as `astrometry-net serve` for offline solving.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { SolverBackend } from './solver-backend.js';
import type { ServerContext } from './context.js';
import { createDispatcher, type RecordedRequest } from './dispatch.js';
import { Faults, type FaultController } from './faults.js';
import { DJANGO_MAX_MEMORY_SIZE } from './forms.js';
import { ChangeFeed } from './long-poll.js';
import { Processor } from './processor.js';
import { serverInfoBody } from './server-info.js';
import { sweep, sweepInterval } from './retention.js';
import { Sessions, randomString } from './sessions.js';
import { createBackend } from './solvers/registry.js';
import { DEFAULT_MAX_PIXELS } from './declared-size.js';
import { DEFAULT_MAX_SOURCE_ROWS } from './source-list.js';
import { SIMULATED_DEFAULTS, type SimulatedSolverOptions } from './solvers/simulated.js';
import type { UserRow } from './store/server-store.js';
import { isPostgresUrl, openStore } from './store/open.js';

export type { RecordedRequest } from './dispatch.js';
export type { Fault, FaultController, FaultKind } from './faults.js';
export type { SimulatedSolverOptions } from './solvers/simulated.js';
export { createSimulatedBackend } from './solvers/simulated.js';
export type { SolverName } from './solvers/registry.js';
export type { SolverBackend, SolverDescription, SolveRequest, SolveOutcome, SolveFiles, ParsedUploadOptions } from './solver-backend.js';

export interface ServerOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Accepted API keys (any non-empty string). None given: one is generated (16 letters a-z). */
  apiKeys?: string[];
  /** Default 'solve-field' (loaded lazily). */
  solver?: 'simulated' | 'solve-field' | SolverBackend;
  /**
   * Where files persist (and the embedded SQLite database, without `database`). Default: a fresh
   * temporary directory, removed again by close(). Nodes sharing a PostgreSQL share this too.
   */
  dataDir?: string;
  /** `postgres://…`: state lives in PostgreSQL, so several nodes can serve one queue. Default: SQLite in dataDir. */
  database?: string;
  /** How long a node's claim on a job survives without renewal (a dead node's jobs rerun after it). Default 30 s. */
  leaseMs?: number;
  /** How often a node asks the store for work accepted by other nodes. Default 250 ms (PostgreSQL), 1 s (SQLite). */
  pollMs?: number;
  /** Request body limit; past it HTTP 413. Default 100 MiB. */
  maxUploadBytes?: number;
  /**
   * Largest image solved, in pixels (width × height as its header declares them). A larger one
   * fails its job at once, before solve-field or any conversion starts. Default 250 million.
   */
  maxPixels?: number;
  /** Rows a source list (text, FITS table or x/y lists) may have; past it the submission fails. Default 1 000 000. */
  maxSourceRows?: number;
  /** Concurrent solves on this node; more jobs wait (`jobs: [null]`). Default: the number of cores. */
  concurrency?: number;
  /** Delete finished submissions older than this, on a periodic sweep. */
  retention?: { maxAgeMs?: number };
  /** Timings of the simulated backend (ingestMs and queueMs apply to any backend when given). */
  simulated?: SimulatedSolverOptions;
  /** Send Access-Control-Allow-Origin only for these origins. Off by default. */
  cors?: { origins: string[] };
  /** Session lifetime, sliding on each authenticated call. Default 14 days. */
  sessionTtlMs?: number;
  /** Worker-side fetch of url_upload: inactivity timeout (default 10 s) and size cap (default maxUploadBytes). */
  urlFetch?: { timeoutMs?: number; maxBytes?: number };
  /** solve-field: index directories searched besides the system's (`add_path` in /etc/astrometry.cfg). */
  indexDirs?: string[];
  /** solve-field: search the system's index directories too. Default true. */
  systemIndexes?: boolean;
  /** Longest hold of a long-polled status read (`?wait=`), in seconds. Default 600; 0 disables long polling. */
  longPollMaxSeconds?: number;
  /** Let url_upload fetch loopback, link-local and private addresses. Default false. */
  allowPrivateUrls?: boolean;
  /** Receives one line per event; never API keys or session keys. */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** API base, e.g. 'http://127.0.0.1:PORT/api/'. */
  url: string;
  /** 'http://127.0.0.1:PORT'. */
  origin: string;
  apiKeys: readonly string[];
  /** Every request received (capped at the latest 100 000). */
  requests: readonly RecordedRequest[];
  faults: FaultController;
  /** 'expired': sessions exist but load empty ("user is not authenticated."); 'purged': rows gone ("no session with key"). */
  expireSessions(mode: 'expired' | 'purged'): Promise<void>;
  /** nova's daily worker restart: unfinished jobs are deleted and come back under new ids. */
  restartWorkers(): Promise<void>;
  /** The directory holding files (and the SQLite database). */
  dataDir: string;
  /** Status reads being held by long polling right now. */
  readonly heldRequests: number;
  /** This node's id in the store. */
  node: string;
  close(): Promise<void>;
}

const MiB = 1024 * 1024;

function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

function checkPositiveInt(name: string, v: number | undefined, min: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new RangeError(`${name} must be an integer >= ${min}`);
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const log = options.log ?? (() => undefined);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8080;
  checkPositiveInt('port', port, 0);
  if (port > 65535) throw new RangeError('port must be <= 65535');
  checkPositiveInt('concurrency', options.concurrency, 1);
  checkPositiveInt('longPollMaxSeconds', options.longPollMaxSeconds, 0);
  checkPositiveInt('leaseMs', options.leaseMs, 100);
  checkPositiveInt('pollMs', options.pollMs, 10);
  checkPositiveInt('maxPixels', options.maxPixels, 1);
  checkPositiveInt('maxSourceRows', options.maxSourceRows, 1);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxSourceRows = options.maxSourceRows ?? DEFAULT_MAX_SOURCE_ROWS;
  if (options.database !== undefined && !isPostgresUrl(options.database)) throw new RangeError('database must be a postgres:// URL');
  const maxUploadBytes = options.maxUploadBytes ?? 100 * MiB;
  if (!(maxUploadBytes > 0)) throw new RangeError('maxUploadBytes must be positive');
  const apiKeys = options.apiKeys && options.apiKeys.length > 0 ? [...options.apiKeys] : [randomString(16, 'abcdefghijklmnopqrstuvwxyz')];
  if (apiKeys.some((k) => typeof k !== 'string' || k === '')) throw new TypeError('API keys must be non-empty strings');

  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'astrometry-net-serve-')));
  const nodeId = randomUUID();
  const store = await openStore({ dataDir, database: options.database, node: nodeId, log });
  const changes = new ChangeFeed();
  store.onChange = () => changes.notify();
  const users = new Map<string, UserRow>();
  try {
    for (const key of apiKeys) {
      const hash = keyHash(key);
      users.set(hash, await store.ensureUser(hash));
    }
  } catch (err) {
    await store.close();
    throw err;
  }

  const solverName = typeof options.solver === 'object' ? 'custom' : (options.solver ?? 'solve-field');
  const backend = await createBackend(options.solver, {
    simulated: options.simulated,
    log,
    maxPixels,
    ...(options.indexDirs ? { indexDirs: options.indexDirs } : {}),
    ...(options.systemIndexes !== undefined ? { systemIndexes: options.systemIndexes } : {}),
  });
  const solverDescription = (await backend.describe?.()) ?? { name: backend.name };
  const concurrency = options.concurrency ?? availableParallelism();
  const longPollMaxSeconds = options.longPollMaxSeconds ?? 600;
  const isSim = solverName === 'simulated';
  const sessions = new Sessions(store, options.sessionTtlMs ?? 14 * 86400_000);
  const processor = new Processor(store, backend, {
    node: nodeId,
    concurrency,
    leaseMs: options.leaseMs ?? 30_000,
    pollMs: options.pollMs ?? (options.database ? 250 : 1000),
    ingestMs: options.simulated?.ingestMs ?? (isSim ? SIMULATED_DEFAULTS.ingestMs : 0),
    queueMs: options.simulated?.queueMs ?? (isSim ? SIMULATED_DEFAULTS.queueMs : 0),
    urlFetch: {
      timeoutMs: options.urlFetch?.timeoutMs ?? 10_000,
      maxBytes: options.urlFetch?.maxBytes ?? maxUploadBytes,
      allowPrivate: options.allowPrivateUrls ?? false,
    },
    maxDecompressedBytes: Math.max(maxUploadBytes * 8, 1024 * MiB),
    maxSourceRows,
    log,
  });

  const ctx: ServerContext = {
    store,
    sessions,
    processor,
    findUserByKey: (key) => users.get(keyHash(key)),
    formLimits: { maxBodyBytes: maxUploadBytes, maxFieldBytes: DJANGO_MAX_MEMORY_SIZE, tmpDir: store.tmpDir },
    longPoll: { maxSeconds: longPollMaxSeconds, changes },
    serverInfo: serverInfoBody(solverDescription, { maxUploadBytes, concurrency, longPollMaxSeconds, maxPixels, maxSourceRows }),
    maxSourceRows,
    log,
  };
  const faults = new Faults();
  const requests: RecordedRequest[] = [];
  const dispatch = createDispatcher(ctx, faults, requests, {
    maxUploadBytes,
    corsOrigins: options.cors?.origins ?? [],
    maxRecorded: 100_000,
  });

  const server: Server = createServer({ requestTimeout: 600_000 }, (req, res) => {
    dispatch(req, res).catch((err: unknown) => {
      log(`request failed after answering: ${(err as Error)?.message ?? String(err)}`);
      res.destroy();
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await processor.close();
    await store.close();
    throw err;
  }
  // Restarting on an existing SQLite dataDir is a worker restart: unfinished work resumes under
  // new job ids. With PostgreSQL other nodes may be working: their leases decide instead.
  await processor.start(store.engine === 'sqlite');
  const addr = server.address() as AddressInfo;
  const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const origin = `http://${hostPart}:${addr.port}`;
  log(`listening on ${origin} (solver: ${backend.name}, data: ${dataDir}, store: ${store.engine}, node: ${nodeId})`);
  if (solverDescription.index) log(`index: ${solverDescription.index.summary}`);

  // Expired sessions are purged (as Django's clearsessions would), whatever the retention.
  const purgeTimer = setInterval(() => {
    sessions.purgeStale().then(
      (n) => n > 0 && log(`purged ${n} expired session(s)`),
      (err: unknown) => log(`session purge failed: ${(err as Error).message}`),
    );
  }, Math.min(3_600_000, Math.max(1000, sessions.ttlMs)));
  purgeTimer.unref();
  let sweepTimer: NodeJS.Timeout | undefined;
  const maxAgeMs = options.retention?.maxAgeMs;
  if (maxAgeMs !== undefined && maxAgeMs > 0) {
    sweepTimer = setInterval(() => {
      sweep(store, sessions, maxAgeMs).then(
        (n) => n > 0 && log(`retention: deleted ${n} submission(s)`),
        (err: unknown) => log(`retention sweep failed: ${(err as Error).message}`),
      );
    }, sweepInterval(maxAgeMs));
    sweepTimer.unref();
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(sweepTimer);
      clearInterval(purgeTimer);
      // Held status reads answer now rather than hold the shutdown.
      changes.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await processor.close();
      // In-flight requests get a moment to finish, then connections are cut.
      const grace = setTimeout(() => server.closeAllConnections(), 1000);
      await closed;
      clearTimeout(grace);
      await store.close().catch((err: unknown) => log(`closing the store failed: ${(err as Error).message}`));
      // A temporary dataDir we created ourselves cannot be reused by anyone: don't leave it behind.
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    })();
    return closing;
  };

  return {
    url: `${origin}/api/`,
    origin,
    apiKeys,
    requests,
    faults,
    dataDir,
    node: nodeId,
    expireSessions: (mode) => sessions.expireAll(mode),
    restartWorkers: () => processor.restart(true),
    get heldRequests() {
      return changes.size;
    },
    close,
  };
}
