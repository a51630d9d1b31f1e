/**
 * A server that refuses connections is said at once and ends in a typed `unreachable` error
 * after unreachableAfterMs, not at the solve's deadline; once one solve has waited it out, the
 * next ones to that server give up after a single attempt, so a batch ends in about that time.
 */
import { describe, expect, test } from 'vitest';
import { Client } from '../src/client/client.js';
import { UnreachableError } from '../src/errors.js';
import { viewOf } from '../src/client/solve-view.js';
import type { Transport } from '../src/transport/transport.js';
import { API_KEY, fakeNova } from './helpers/fake-nova.js';

/** A transport whose server is down (connection refused) until `up()` is called. */
function flaky() {
  const working = fakeNova();
  let down = true;
  let attempts = 0;
  const transport: Transport = {
    request: async (req) => {
      if (down) {
        attempts++;
        throw Object.assign(new Error('connect ECONNREFUSED 192.0.2.9:80'), { code: 'ECONNREFUSED' });
      }
      return working.request(req);
    },
  };
  return { transport, up: () => (down = false), attempts: () => attempts };
}

const client = (transport: Transport, unreachableAfterMs = 300) =>
  new Client({ apiKey: API_KEY, apiUrl: 'http://nova.test/api/', transport, unreachableAfterMs, retry: { baseDelayMs: 20, maxDelayMs: 40 }, polling: { minIntervalMs: 0 }, timeoutMs: 60_000 });

describe('a server that refuses connections', () => {
  test('ends a solve in an unreachable error after unreachableAfterMs, naming the host and the cause, not at the deadline', async () => {
    const { transport } = flaky();
    const t0 = performance.now();
    const error = await client(transport).solve('https://example.org/a.jpg').catch((e: unknown) => e);
    const ms = performance.now() - t0;
    expect(error).toBeInstanceOf(UnreachableError);
    expect(error).toMatchObject({ code: 'unreachable', host: 'nova.test' });
    expect((error as Error).message).toMatch(/Cannot reach nova\.test: ECONNREFUSED for \d+ s \(nothing was sent\)/);
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(3000);
  });

  test('a batch against it ends in about unreachableAfterMs, not once per solve: later solves give up after one attempt', async () => {
    const { transport, attempts } = flaky();
    const c = client(transport, 400);
    const t0 = performance.now();
    const codes: string[] = [];
    for await (const o of c.solveMany(Array.from({ length: 12 }, (_, i) => `https://example.org/${i}.jpg`), { concurrency: 2 })) codes.push(o.error?.code ?? 'solved');
    const ms = performance.now() - t0;
    expect(codes).toEqual(Array(12).fill('unreachable'));
    // Two solves wait it out together; the ten after them try once each.
    expect(ms).toBeLessThan(400 * 2 + 1500);
    expect(attempts()).toBeLessThan(60);
  });

  test('once it answers again, the next solve goes through', async () => {
    const { transport, up } = flaky();
    const c = client(transport, 200);
    await expect(c.solve('https://example.org/a.jpg')).rejects.toMatchObject({ code: 'unreachable' });
    up();
    await expect(c.solve('https://example.org/a.jpg')).resolves.toMatchObject({ calibration: { ra: 187 } });
  });
});

test('each retry of a login is in the solve view at once: what went wrong, the attempt, when the next goes; gone once through', async () => {
  const { transport, up } = flaky();
  const c = client(transport, 60_000);
  const submission = c.submit('https://example.org/a.jpg');
  const seen: { problem: string; attempt: number; retryAt: number }[] = [];
  const sub = submission.handle.actor.subscribe((s) => {
    const r = viewOf(s).retrying;
    if (r && r.attempt !== seen.at(-1)?.attempt) seen.push(r);
  });
  await new Promise((r) => setTimeout(r, 150));
  expect(seen.length).toBeGreaterThanOrEqual(2);
  expect(seen[0]).toMatchObject({ problem: 'cannot reach nova.test: ECONNREFUSED', attempt: 1 });
  expect(seen[1]?.attempt).toBe(2);
  expect(seen[0]!.retryAt).toBeGreaterThan(Date.now() - 1000);
  up();
  const result = await c.job((await submission.untilDone()).id);
  expect(result.calibration.ra).toBe(187);
  expect(viewOf(submission.handle.snapshot).retrying).toBeNull();
  sub.unsubscribe();
});

test("a server's unreachable streak ends when nothing was refused for a while: one refusal hours later starts a new one", async () => {
  const { ServerPool } = await import('../src/tasks/server-pool.js');
  const pool = new ServerPool(['http://nova.test/api/'], 'key');
  const watch = pool.watch('http://nova.test/api/', 120_000);
  expect(watch.refused(1_000)).toBe(1_000);
  expect(watch.refused(61_000)).toBe(1_000);
  // Three hours on, with nothing sent in between: a new streak, not one of three hours.
  expect(watch.refused(3 * 3600_000)).toBe(3 * 3600_000);
  watch.reached();
  expect(watch.refused(3 * 3600_000 + 5)).toBe(3 * 3600_000 + 5);
});
