/**
 * The client against `serve` with long polling: a held status read answers as soon as the
 * resource reaches what the client waits for, so each phase costs one status request whatever
 * the job's length; against a server without it (as nova), the client falls back to its own
 * schedule.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Client } from '../src/client/client.js';
import { startServer, type RunningServer } from 'astrometry-net-server';
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
  test('on a server that holds reads each phase costs one status read, held until the milestone; the first read of a session learns it', async () => {
    const transport = recordingTransport();
    const client = new Client({ apiUrl: holding.url, apiKey: holding.apiKeys[0], transport });
    const first = await client.solve(IMAGE);
    expect(first.calibration.pixscale).toBeGreaterThan(0);
    // First solve: the first submission read is answered at once and says the server holds
    // reads; from then on every read asks to be held until its milestone.
    expect(statusReads(transport.log, 'submissions').map((e) => (e.json?.jobs as unknown[]).length > 0)).toEqual([false, true]);
    expect(statusReads(transport.log, 'jobs').map((e) => e.json?.status)).toEqual(['success']);
    expect(statusReads(transport.log, 'submissions').map((e) => new URLSearchParams(e.query).get('until'))).toEqual([null, 'job']);
    expect(statusReads(transport.log, 'jobs').map((e) => new URLSearchParams(e.query).get('until'))).toEqual(['done']);

    const before = transport.log.length;
    await client.solve(IMAGE);
    const second = transport.log.slice(before);
    expect(statusReads(second, 'submissions')).toHaveLength(1);
    expect(statusReads(second, 'jobs')).toHaveLength(1);
    expect(second.map((e) => e.path.replace(/\d+/g, ':id'))).toEqual(['/api/upload', '/api/submissions/:id', '/api/jobs/:id', '/api/jobs/:id/calibration']);
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
