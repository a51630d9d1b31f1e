/**
 * For servers that share one database (several `serve` nodes on one PostgreSQL): a read that
 * cannot reach its server is sent to the next one, which knows the same submissions and jobs.
 * Only GETs move: they are safe anywhere. Logins and uploads stay with their server.
 */
import { siteRoot } from '../protocol/urls.js';
import type { ServerPool } from '../tasks/server-pool.js';
import type { Transport } from './transport.js';

/** `now` is the clock the pool's times are kept in (the system clock by default). */
export function failoverTransport(inner: Transport, pool: ServerPool, now: () => number = () => Date.now()): Transport {
  return {
    async request(req) {
      if (req.method !== 'GET') return inner.request(req);
      try {
        return await inner.request(req);
      } catch (error) {
        // The caller gave up (a cancel, the deadline): not the server's fault.
        if (req.signal?.aborted) throw error;
        const from = pool.servers.find((s) => req.url.startsWith(siteRoot(s.apiUrl)));
        if (!from) throw error;
        pool.unreachable(from.apiUrl, now());
        const path = req.url.slice(siteRoot(from.apiUrl).length);
        let last = error;
        for (const other of pool.servers) {
          if (other === from || other.downUntil > now()) continue;
          try {
            return await inner.request({ ...req, url: siteRoot(other.apiUrl) + path });
          } catch (e) {
            if (req.signal?.aborted) throw e;
            pool.unreachable(other.apiUrl, now());
            last = e;
          }
        }
        throw last;
      }
    },
  };
}
