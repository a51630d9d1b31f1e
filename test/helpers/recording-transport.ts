/**
 * Wraps a real transport and records every exchange with its decoded answer, so a test can
 * check not only how many requests a solve made but that none of them was redundant.
 */
import type { Transport, TransportResponse } from '../../src/transport/transport.js';
import { undiciTransport } from '../../src/transport/undici.js';

export interface Exchange {
  method: string;
  path: string;
  /** The query string with its `?` (empty when none). */
  query: string;
  status: number;
  /** Whether the server said it holds status reads (`x-long-poll`). */
  held: boolean;
  json?: Record<string, unknown>;
}

export function recordingTransport(inner: Transport = undiciTransport()): Transport & { log: Exchange[] } {
  const log: Exchange[] = [];
  return {
    log,
    async request(req) {
      const response: TransportResponse = await inner.request(req);
      const url = new URL(req.url);
      const entry: Exchange = {
        method: req.method,
        path: url.pathname,
        query: url.search,
        status: response.status,
        held: response.headers['x-long-poll'] !== undefined,
      };
      if ((response.headers['content-type'] ?? '').startsWith('text/plain')) {
        try {
          entry.json = JSON.parse(new TextDecoder().decode(response.body));
        } catch {
          // not JSON: leave it out
        }
      }
      log.push(entry);
      return response;
    },
  };
}
