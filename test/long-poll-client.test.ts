/**
 * The client against `serve` with long polling: a held status read answers as soon as the state
 * changes, so each phase costs about two status requests whatever the job's length; against a
 * server without it (as nova), the client falls back to its own schedule.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Client } from '../src/client.js';
import { startServer, type RunningServer } from '../src/server/index.js';
import { recordingTransport, type Exchange } from './helpers/recording-transport.js';

const IMAGE = new URL('./fixtures/small.png', import.meta.url).pathname;
// Ingest and solve each take longer than the first wait (the 1 s floor), so each phase has a
// read that sees no change and one that the server holds until the change.
const TIMINGS = { ingestMs: 2500, queueMs: 0, solveMs: 2000 };

let holding: RunningServer;
let plain: RunningServer;

beforeAll(async () => {
  [holding, plain] = await Promise.all([
    startServer({ port: 0, solver: 'simulated', simulated: TIMINGS }),
    startServer({ port: 0, solver: 'simulated', simulated: TIMINGS, longPollMaxSeconds: 0 }),
  ]);
});
afterAll(async () => {
  await Promise.all([holding.close(), plain.close()]);
});

const statusReads = (log: Exchange[], kind: 'submissions' | 'jobs') => log.filter((e) => new RegExp(`^/api/${kind}/\\d+/?$`).test(e.path));

describe('long polling', () => {
  test('each phase costs two status reads on a server that holds them: one answered at once, one held until the change', async () => {
    const transport = recordingTransport();
    const client = new Client({ apiUrl: holding.url, apiKey: holding.apiKeys[0], transport });
    const result = await client.solve(IMAGE);
    expect(result.calibration.pixscale).toBeGreaterThan(0);
    const submissions = statusReads(transport.log, 'submissions');
    const jobs = statusReads(transport.log, 'jobs');
    expect(submissions.map((e) => (e.json?.jobs as unknown[]).length > 0)).toEqual([false, true]);
    expect(jobs.map((e) => e.json?.status)).toEqual(['solving', 'success']);
    // The server said it holds reads; the second read of each phase sent back the token it was given.
    expect([...submissions, ...jobs].every((e) => e.held)).toBe(true);
    expect([...submissions, ...jobs].map((e) => e.query.includes('seen='))).toEqual([false, true, false, true]);
  });

  test('a server that does not hold reads gets the adaptive schedule instead: every read is answered at once', async () => {
    const transport = recordingTransport();
    const client = new Client({ apiUrl: plain.url, apiKey: plain.apiKeys[0], transport });
    const result = await client.solve(IMAGE);
    expect(result.calibration.pixscale).toBeGreaterThan(0);
    // 1 s floor: the 2.5 s ingest and the 2 s solve each take more than two reads.
    expect(statusReads(transport.log, 'submissions').length).toBeGreaterThanOrEqual(3);
    expect(statusReads(transport.log, 'jobs').length).toBeGreaterThanOrEqual(2);
    expect(transport.log.some((e) => e.held || e.query.includes('seen='))).toBe(false);
  });
});
