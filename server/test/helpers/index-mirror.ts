/**
 * A mirror of astrometry.net's data site on 127.0.0.1: files under `<root>/4100/...` served as
 * the site serves them (Content-Length, byte ranges `bytes=N-`, 416 past the end), with a log of
 * every request and the bytes it carried. `cut` makes the next request of a file slow and drops
 * its connection after a while, as a flaky link would.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';

export interface MirrorRequest {
  path: string;
  range: string | null;
  status: number;
  /** Bytes of the file the response started at. */
  start: number;
  /** Bytes the server wrote before the response ended or was cut. */
  sent: number;
  cut: boolean;
}

export interface IndexMirror {
  url: string;
  log: MirrorRequest[];
  /** The next request for `file` (e.g. '4100/index-4107.fits') is sent at `bytesPerSecond` and dropped after `afterMs`. */
  cut(file: string, afterMs: number, bytesPerSecond: number): void;
  close(): Promise<void>;
}

/** Passes at most `rate` bytes a second, in 50 ms slices. */
function throttle(rate: number): Transform {
  const slice = Math.max(1, Math.floor(rate / 20));
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      const push = (at: number) => {
        if (at >= chunk.length) return done();
        this.push(chunk.subarray(at, at + slice));
        setTimeout(() => push(at + slice), 50);
      };
      push(0);
    },
  });
}

export async function startIndexMirror(root: string): Promise<IndexMirror> {
  const log: MirrorRequest[] = [];
  const cuts = new Map<string, { afterMs: number; rate: number }>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
      const entry: MirrorRequest = { path: rel, range: req.headers.range ?? null, status: 0, start: 0, sent: 0, cut: false };
      log.push(entry);
      const file = path.join(root, rel);
      const st = rel.includes('..') ? null : await stat(file).catch(() => null);
      if (!st?.isFile()) {
        entry.status = 404;
        res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>');
        return;
      }
      let start = 0;
      if (entry.range) {
        const m = /^bytes=(\d+)-$/.exec(entry.range);
        if (!m) {
          entry.status = 400;
          res.writeHead(400).end();
          return;
        }
        start = Number(m[1]);
        if (start >= st.size) {
          entry.status = 416;
          res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
          return;
        }
      }
      entry.start = start;
      entry.status = entry.range ? 206 : 200;
      res.writeHead(entry.status, {
        'content-type': 'application/fits',
        'content-length': String(st.size - start),
        'accept-ranges': 'bytes',
        ...(entry.range ? { 'content-range': `bytes ${start}-${st.size - 1}/${st.size}` } : {}),
      });
      const cut = cuts.get(rel);
      cuts.delete(rel);
      const source = createReadStream(file, { start });
      const body = cut ? source.pipe(throttle(cut.rate)) : source;
      body.on('data', (chunk: Buffer) => (entry.sent += chunk.length));
      if (cut) {
        setTimeout(() => {
          entry.cut = true;
          source.destroy();
          res.socket?.destroy();
        }, cut.afterMs);
      }
      body.pipe(res);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    cut: (file, afterMs, rate) => cuts.set(file, { afterMs, rate }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
