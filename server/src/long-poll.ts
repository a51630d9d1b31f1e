/**
 * Long polling of the two status reads (`/api/submissions/<id>`, `/api/jobs/<id>`), an
 * extension real nova lacks and ignores: `?wait=<s>&seen=<token>` holds the answer until its
 * body changes, so a client learns of a change at once with one request per phase.
 * The protocol is specified in notes/long-poll.md; clients detect it by the `x-long-poll` header.
 */
import { createHash } from 'node:crypto';
import type { Exchange } from './context.js';
import { pyDumps, type Dumpable } from './python.js';
import { sendJson } from './respond.js';

/** In-process "the state changed" signal; holds re-check their answer on each one. */
export class ChangeFeed {
  private readonly listeners = new Set<(closing: boolean) => void>();
  private closed = false;

  notify(): void {
    for (const fn of [...this.listeners]) fn(this.closed);
  }

  /** Calls `fn` on every change, with `closing` true once the server shuts down. Returns the unsubscribe. */
  subscribe(fn: (closing: boolean) => void): () => void {
    if (this.closed) {
      queueMicrotask(() => fn(true));
      return () => undefined;
    }
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Releases every hold (server shutdown): they answer with what they have. */
  close(): void {
    this.closed = true;
    this.notify();
    this.listeners.clear();
  }

  get size(): number {
    return this.listeners.size;
  }
}

export interface LongPollConfig {
  /** The longest hold, in seconds; 0 disables long polling (no headers either). */
  maxSeconds: number;
  changes: ChangeFeed;
}

/** Re-check interval for changes made by another process sharing the store. */
const FALLBACK_RECHECK_MS = 1000;
/**
 * Changes come in bursts (an ingest ends and the job is created a moment later; a job is created
 * and started): a hold answers once a burst has settled, so a client sees one change, not each
 * step, at the cost of this much lag.
 */
const SETTLE_MS = 25;

export function stateToken(bodyText: string): string {
  return createHash('sha1').update(bodyText, 'utf8').digest('hex').slice(0, 16);
}

/** The hold a request asks for: `wait` as a positive integer, else null (answer as nova does). */
export function requestedWait(url: URL): number | null {
  const raw = url.searchParams.get('wait');
  if (raw === null || !/^[0-9]+$/.test(raw)) return null;
  const n = Number(raw);
  return n >= 1 ? n : null;
}

/**
 * Answers a status read. `compute` builds the body from current state (throwing HttpError for
 * an unknown id, which then answers at once or ends a hold the same way).
 */
export async function answerStatus(
  ex: Exchange,
  config: LongPollConfig,
  compute: () => Promise<Dumpable>,
  milestones: Readonly<Record<string, (body: Dumpable) => boolean>> = {},
): Promise<void> {
  let body = await compute();
  const wait = config.maxSeconds > 0 ? requestedWait(ex.url) : null;
  if (wait === null) {
    sendJson(ex.res, body);
    return;
  }
  const hold = Math.min(wait, config.maxSeconds);
  let text = pyDumps(body);
  const seen = ex.url.searchParams.get('seen');
  // `until=<milestone>` holds until the resource reaches it (a job appears; the job ends),
  // skipping the steps in between; `seen=<token>` holds until anything changes.
  const until = ex.url.searchParams.get('until');
  const reached = until !== null && Object.hasOwn(milestones, until) ? (milestones[until] as (b: Dumpable) => boolean) : undefined;
  const waiting = () => (reached ? !reached(body) : seen === stateToken(text));
  if (waiting()) {
    const gone = await holdUntilChanged(ex, config.changes, hold * 1000, async () => {
      body = await compute();
      text = pyDumps(body);
      return !waiting();
    });
    if (gone) return;
  }
  sendJson(ex.res, body, { 'x-long-poll': String(hold), 'x-state': stateToken(text) });
}

/**
 * Waits until `changed()` is true, the hold ends or the client leaves; resolves true when the
 * client left (nothing is to be sent). Every timer and listener is released on all three paths.
 * An error from `changed()` (the id vanished) is rethrown to be answered like any other.
 */
function holdUntilChanged(ex: Exchange, changes: ChangeFeed, holdMs: number, changed: () => Promise<boolean>): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    if (ex.res.destroyed || ex.req.socket.destroyed) {
      resolve(true);
      return;
    }
    let settled = false;
    let settling: ReturnType<typeof setTimeout> | undefined;
    const finish = (gone: boolean, err?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearInterval(recheck);
      if (settling !== undefined) clearTimeout(settling);
      unsubscribe();
      ex.res.off('close', onClose);
      if (err !== undefined) reject(err);
      else resolve(gone);
    };
    // The store is asynchronous: one re-check at a time, and one more if a change came meanwhile.
    let checking = false;
    let again = false;
    const check = (closing = false): void => {
      if (closing) {
        finish(false);
        return;
      }
      if (settled) return;
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      changed().then(
        (yes) => {
          checking = false;
          if (yes) finish(false);
          else if (again) {
            again = false;
            check();
          }
        },
        (err: unknown) => {
          checking = false;
          finish(false, err);
        },
      );
    };
    const onClose = (): void => finish(true);
    const deadline = setTimeout(() => finish(false), holdMs);
    const recheck = setInterval(() => check(), FALLBACK_RECHECK_MS);
    const unsubscribe = changes.subscribe((closing) => {
      if (closing) return check(true);
      settling ??= setTimeout(() => {
        settling = undefined;
        check();
      }, SETTLE_MS);
    });
    ex.res.on('close', onClose);
  });
}
