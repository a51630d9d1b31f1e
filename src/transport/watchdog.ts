/**
 * One AbortController per exchange that fires on the caller's signal, on the overall timeout, or
 * when no byte has moved for the stall timeout. A single controller with plain timers, rather
 * than `AbortSignal.any` over `AbortSignal.timeout`, because on Node 20 composed signals cost
 * measurable CPU per request and stay reachable until the longest timer fires.
 */
import { NetworkError } from '../errors.js';
import type { TransportRequest } from './transport.js';

export interface Watchdog {
  readonly signal: AbortSignal;
  /** Something moved: the stall timer starts again. */
  touch(): void;
  /** The exchange is over: clears the timers and the caller's listener. */
  done(): void;
}

export function watch(req: Pick<TransportRequest, 'signal' | 'timeoutMs' | 'stallTimeoutMs' | 'url'>): Watchdog {
  const controller = new AbortController();
  const onAbort = () => controller.abort(req.signal?.reason);
  if (req.signal?.aborted) onAbort();
  else req.signal?.addEventListener('abort', onAbort, { once: true });
  const overall =
    req.timeoutMs === undefined
      ? undefined
      : setTimeout(() => controller.abort(new NetworkError(`No complete answer from ${req.url} within ${req.timeoutMs} ms.`)), req.timeoutMs);
  // One timer, re-armed only when it fires early: touching it per chunk costs a clock read.
  let lastMove = Date.now();
  let stall: ReturnType<typeof setTimeout> | undefined;
  const stallMs = req.stallTimeoutMs;
  const check = () => {
    if (stallMs === undefined) return;
    const idle = Date.now() - lastMove;
    if (idle >= stallMs) {
      controller.abort(new NetworkError(`Stalled: no byte moved to or from ${req.url} for ${stallMs} ms.`));
      return;
    }
    stall = setTimeout(check, stallMs - idle);
  };
  if (stallMs !== undefined) stall = setTimeout(check, stallMs);
  return {
    signal: controller.signal,
    touch() {
      lastMove = Date.now();
    },
    done() {
      if (overall !== undefined) clearTimeout(overall);
      if (stall !== undefined) clearTimeout(stall);
      req.signal?.removeEventListener('abort', onAbort);
    },
  };
}
