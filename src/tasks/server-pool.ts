/**
 * The servers a client spreads its solves over: one or several nova-compatible API URLs, each
 * with its own login (a session key is valid on one server only), its own count of solves in
 * flight, and its own health.
 *
 * A new solve goes to the reachable server with the fewest solves in flight. A server that
 * refuses connections is skipped for new uploads for a while; one that fails three uploads in a
 * row, too. A solve stays with the server that has its submission: its id means nothing
 * elsewhere, unless the servers share one database (`sharedStore`), where any of them answers.
 *
 * Times are epoch ms of the caller's clock (`now`, the system clock by default): the tasks pass
 * the one their machines read.
 */
import { SharedLogin } from './shared-login.js';
import type { UnreachableWatch } from '../protocol/retry.js';

/** Longer than any wait between two attempts (the retry backoff is capped at a minute). */
const STREAK_GAP_MS = 2 * 60_000;

const hostOf = (apiUrl: string): string => {
  try {
    return new URL(apiUrl).host;
  } catch {
    return apiUrl;
  }
};

export interface PooledServer {
  /** The API base, e.g. `http://node-a:8080/api/`. */
  readonly apiUrl: string;
  readonly login: SharedLogin;
  /** Solves that chose this server and have not settled. */
  inFlight: number;
  /** Epoch ms before which no new upload is sent here. */
  downUntil: number;
  /** Uploads that failed in a row (a dropped connection, a 5xx). */
  uploadFailures: number;
  /** Epoch ms of the first refused connection since the server last answered; `null` while it answers. */
  unreachableSince: number | null;
  /** Epoch ms of the latest refused connection. */
  lastRefusedAt: number | null;
}

/** How long a server that refused a connection is left out of new uploads. */
const UNREACHABLE_MS = 30_000;
/** How long a server that failed this many uploads in a row is left out. */
const FAILING_UPLOADS = 3;
const FAILING_MS = 60_000;

export class ServerPool {
  readonly servers: readonly PooledServer[];
  /** Whether the servers share one database, so any of them can answer for a submission or job. */
  readonly sharedStore: boolean;
  readonly #byUrl: Map<string, PooledServer>;

  constructor(apiUrls: readonly string[], apiKey: string | (() => string), sharedStore = false) {
    this.servers = apiUrls.map((apiUrl) => ({ apiUrl, login: new SharedLogin(apiKey), inFlight: 0, downUntil: 0, uploadFailures: 0, unreachableSince: null, lastRefusedAt: null }));
    this.#byUrl = new Map(this.servers.map((s) => [s.apiUrl, s]));
    this.sharedStore = sharedStore;
  }

  /** The first server: account questions and solves that never chose go there. */
  get primary(): PooledServer {
    return this.servers[0] as PooledServer;
  }

  /** The server of this API URL (a solve restored from a snapshot names its own). */
  get(apiUrl: string | null): PooledServer {
    return (apiUrl === null ? undefined : this.#byUrl.get(apiUrl)) ?? this.primary;
  }

  /** Whether `apiUrl` is one of this pool's servers. */
  has(apiUrl: string): boolean {
    return this.#byUrl.has(apiUrl);
  }

  /** A reachable server other than `except`, if any. */
  anotherUp(except: string | null, now = Date.now()): boolean {
    return this.servers.some((s) => s.apiUrl !== except && s.downUntil <= now);
  }

  /** The reachable server with the fewest solves in flight (or, all down, the first back). */
  choose(now = Date.now()): PooledServer {
    const up = this.servers.filter((s) => s.downUntil <= now);
    const pool = up.length > 0 ? up : [...this.servers].sort((a, b) => a.downUntil - b.downUntil).slice(0, 1);
    return pool.reduce((best, s) => (s.inFlight < best.inFlight ? s : best));
  }

  /**
   * The watch requests to `apiUrl` share: how long it has refused connections. `afterMs`: how
   * long a request may wait it out before it ends in an UnreachableError.
   */
  watch(apiUrl: string, afterMs: number): UnreachableWatch {
    const s = this.get(apiUrl);
    return {
      afterMs,
      host: hostOf(s.apiUrl),
      refused: (now) => {
        // A streak ends when nothing was refused for a while: the server may have come back
        // while no request went to it, and one refusal hours later starts a new streak.
        if (s.lastRefusedAt !== null && now - s.lastRefusedAt > STREAK_GAP_MS) s.unreachableSince = null;
        s.lastRefusedAt = now;
        return (s.unreachableSince ??= now);
      },
      reached: () => {
        s.unreachableSince = null;
        s.lastRefusedAt = null;
      },
    };
  }

  /** A connection to it was refused: no new upload goes there for a while. */
  unreachable(apiUrl: string, now = Date.now()): void {
    const s = this.#byUrl.get(apiUrl);
    if (s) s.downUntil = now + UNREACHABLE_MS;
  }

  uploadFailed(apiUrl: string, now = Date.now()): void {
    const s = this.#byUrl.get(apiUrl);
    if (!s) return;
    if (++s.uploadFailures >= FAILING_UPLOADS) {
      s.downUntil = now + FAILING_MS;
      s.uploadFailures = 0;
    }
  }

  uploadSucceeded(apiUrl: string): void {
    const s = this.#byUrl.get(apiUrl);
    if (s) s.uploadFailures = 0;
  }

  toJSON(): { servers: string[] } {
    return { servers: this.servers.map((s) => s.apiUrl) };
  }
}
