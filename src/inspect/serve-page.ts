/**
 * What both local inspector pages (the Stately one and the offline one) serve the same way: a
 * random path no other page can guess, the page itself with headers that keep it to itself, and
 * a listening socket on the host given (127.0.0.1 by default). Node only.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A path segment another page or user of the machine cannot guess: `/<32 hex>/`. */
export function secretBase(): string {
  return `/${randomBytes(16).toString('hex')}/`;
}

/**
 * Answers a request for the page (or a method other than GET/HEAD) and returns true; returns
 * false for any other path, for the caller to route.
 */
export function answerPage(req: IncomingMessage, res: ServerResponse, base: string, page: string, headers: Record<string, string> = {}): boolean {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return true;
  }
  if (path !== base && path !== base.slice(0, -1)) return false;
  res
    .writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      ...headers,
    })
    .end(req.method === 'HEAD' ? undefined : page);
  return true;
}

export function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: open the inspector URL printed when it started.\n');
}

/** Listens, and resolves with the `host:port` to print (a wildcard host shown as 127.0.0.1). */
export async function listenOn(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `${shownHost}:${address.port}`;
}
