/**
 * Reading request bodies without ever destroying the request.
 *
 * `for await (const chunk of req)` destroys the request when the loop exits early (a limit
 * hit, a parse error), which can take the socket and our error answer with it. These helpers
 * stop listening instead, so the rest of the body can still be drained and the client gets a
 * clean 413/400 on a connection that stays in sync.
 */
import type { IncomingMessage } from 'node:http';

export async function* bodyChunks(req: IncomingMessage): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let ended = req.readableEnded;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const onData = (c: Buffer) => {
    queue.push(c);
    req.pause();
    poke();
  };
  const onEnd = () => {
    ended = true;
    poke();
  };
  const onError = (e: Error) => {
    failure = e;
    poke();
  };
  const onClose = () => {
    if (!ended) failure ??= new Error('the client closed the connection mid-request');
    poke();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
  req.on('close', onClose);
  req.resume();
  try {
    for (;;) {
      const next = queue.shift();
      if (next !== undefined) {
        yield next;
        if (queue.length === 0 && !ended) req.resume();
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    req.off('close', onClose);
    // Leave it paused: whoever answers decides whether to drain the rest.
    if (!ended) req.pause();
  }
}

/**
 * Reads and drops the rest of a body, up to `capBytes` more or `timeoutMs`. Resolves true when
 * the body ended (the connection can be reused), false when the client kept going.
 */
export function drainBounded(req: IncomingMessage, capBytes: number, timeoutMs: number): Promise<boolean> {
  if (req.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    let seen = 0;
    const done = (ok: boolean) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      if (!ok) req.pause();
      resolve(ok);
    };
    const onData = (c: Buffer) => {
      seen += c.length;
      if (seen > capBytes) done(false);
    };
    const onEnd = () => done(true);
    const onClose = () => done(req.readableEnded);
    const timer = setTimeout(() => done(false), timeoutMs);
    timer.unref();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.resume();
  });
}
