/**
 * Wraps a real transport and records every exchange with its decoded answer, so a test can
 * check not only how many requests a solve made but that none of them was redundant.
 */
import type { Transport, TransportResponse } from '../../src/transport/types.js';
import { undiciTransport } from '../../src/transport/undici.js';

export interface Exchange {
  method: string;
  path: string;
  status: number;
  json?: Record<string, unknown>;
}

export function recordingTransport(inner: Transport = undiciTransport()): Transport & { log: Exchange[] } {
  const log: Exchange[] = [];
  return {
    log,
    async request(req) {
      const response: TransportResponse = await inner.request(req);
      const entry: Exchange = { method: req.method, path: new URL(req.url).pathname, status: response.status };
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
