/**
 * `Session.serverInfo()`: what `serve` says of itself (`GET /api/server_info`), read through the
 * account machine; on nova, which has no such endpoint, `null` after one request.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Session } from '../src/client/session.js';
import { startServer, type RunningServer } from 'astrometry-net-server';
import { API_KEY, fakeNova, requestLines } from './helpers/fake-nova.js';

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ port: 0, solver: 'simulated', longPollMaxSeconds: 42 });
});
afterAll(() => server.close());

test('serve answers with its solver and limits, with no login', async () => {
  const session = new Session({ apiUrl: server.url, apiKey: server.apiKeys[0] });
  const info = await session.serverInfo();
  expect(info).toMatchObject({ server: expect.stringContaining('serve'), solver: { name: 'simulated' }, limits: { long_poll_max_seconds: 42 } });
  expect(session.loggedIn).toBe(false);
});

test("nova's home page for an unknown path (HTML, 200) means no server_info: null, after one request", async () => {
  const transport = fakeNova();
  const session = new Session({ apiUrl: 'http://nova.test/api/', apiKey: API_KEY, transport, retry: { retries: 3, baseDelayMs: 0, maxDelayMs: 0 } });
  expect(await session.serverInfo()).toBeNull();
  expect(requestLines(transport.requests)).toEqual(['GET /api/server_info']);
});

test('a cancelled query is an aborted error', async () => {
  const session = new Session({ apiUrl: server.url, apiKey: server.apiKeys[0] });
  const controller = new AbortController();
  controller.abort();
  await expect(session.serverInfo({ signal: controller.signal })).rejects.toMatchObject({ code: 'aborted' });
});
