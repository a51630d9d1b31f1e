/**
 * Client.solveMany against the in-repo server: bounded concurrency, each outcome paired with its
 * own input, one failure never stops the rest, cancellation, and validation before any request.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BatchProgress } from '../src/client/batch-driver.js';
import { Client, type SolveManyOutcome } from '../src/client/client.js';
import { startServer, type RunningServer } from 'astrometry-net-server';

const IMAGE = new URL('./fixtures/small.png', import.meta.url);
const FAST = { minIntervalMs: 10, maxIntervalMs: 60 };
let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ port: 0, solver: 'simulated', concurrency: 4, simulated: { ingestMs: 30, queueMs: 20, solveMs: 60 } });
});
afterAll(() => server.close());

const png = readFileSync(IMAGE);
/** Distinct bytes per input, so the server's sha1 identifies which input each submission holds. */
const inputs = (names: string[]) => names.map((name, i) => ({ bytes: new Uint8Array(Buffer.concat([png, Buffer.from([i])])), filename: name }));

async function collect(it: AsyncIterable<SolveManyOutcome>): Promise<SolveManyOutcome[]> {
  const out: SolveManyOutcome[] = [];
  for await (const o of it) out.push(o);
  return out;
}

describe('Client.solveMany', () => {
  test('solves every input, pairing each outcome with its own input; a failure does not stop the rest', async () => {
    const client = new Client({ apiUrl: server.url, apiKey: server.apiKeys[0], polling: FAST });
    const names = ['a.png', 'b.png', 'noise-c.png', 'd.png', 'e.png'];
    const before = server.requests.length;
    const progress: BatchProgress[] = [];
    const outcomes = await collect(client.solveMany(inputs(names), { concurrency: 2, files: ['wcs'], onProgress: (p) => progress.push(p) }));
    // The batch's own progress: never more than two live, every item started and settled.
    expect(Math.max(...progress.map((p) => p.running.length))).toBe(2);
    expect(progress.at(-1)).toMatchObject({ state: 'done', total: 5, started: 5, settled: 5, running: [] });
    expect(progress.some((p) => p.uploading > 0)).toBe(true);
    expect(outcomes.map((o) => o.index).sort()).toEqual([0, 1, 2, 3, 4]);
    for (const o of outcomes) {
      const name = (o.input as { filename: string }).filename;
      // The job the server ran for this outcome holds this outcome's own input.
      const info = (await (await fetch(`${server.url}jobs/${o.jobId}/info`)).json()) as { original_filename: string };
      expect(info.original_filename).toBe(name);
      if (name.startsWith('noise')) {
        expect(o.error?.code).toBe('job_failed');
      } else {
        expect(o.error).toBeNull();
        expect(o.calibration?.pixscale).toBeGreaterThan(0);
        expect(o.files.wcs?.bytes.byteLength).toBeGreaterThan(0);
      }
    }
    const made = server.requests.slice(before);
    expect(made.filter((r) => r.endpoint === 'login')).toHaveLength(1);
    expect(made.filter((r) => r.endpoint === 'upload')).toHaveLength(5);
    expect(made.filter((r) => r.endpoint === 'wcs_file')).toHaveLength(4);
    // Bytes handed in are released once the server has them.
    expect(client.session.memory.size).toBe(0);
  });

  test('a bad input or option is refused before any request', async () => {
    const client = new Client({ apiUrl: server.url, apiKey: server.apiKeys[0], polling: FAST });
    const before = server.requests.length;
    const run = (opts: object, list: unknown[] = inputs(['a.png'])) => collect(client.solveMany(list as never, opts));
    await expect(run({ concurrency: 0 })).rejects.toMatchObject({ code: 'validation', option: 'concurrency' });
    await expect(run({ files: ['wcs_file'] })).rejects.toMatchObject({ code: 'validation', option: 'files' });
    await expect(run({ scaleLower: -1 })).rejects.toMatchObject({ code: 'validation', option: 'scaleLower' });
    await expect(run({}, [...inputs(['a.png']), { file: '/no/such/file.fits' }])).rejects.toMatchObject({ code: 'validation', option: 'file' });
    expect(server.requests.length).toBe(before);
  });

  test('aborting ends solves in flight as aborted with their ids and starts no other', async () => {
    const slow = await startServer({ port: 0, solver: 'simulated', simulated: { ingestMs: 20, queueMs: 20, solveMs: 5000 } });
    try {
      const client = new Client({ apiUrl: slow.url, apiKey: slow.apiKeys[0], polling: FAST });
      const controller = new AbortController();
      const outcomes: SolveManyOutcome[] = [];
      const iterator = client.solveMany(inputs(['a.png', 'b.png', 'c.png', 'd.png']), { concurrency: 2, signal: controller.signal });
      const running = collect(iterator).then((o) => outcomes.push(...o));
      // Abort once both running solves have a job (the server is solving them).
      const jobsPolled = () => new Set(slow.requests.filter((r) => r.endpoint === 'job').map((r) => r.path)).size;
      while (jobsPolled() < 2) await new Promise((r) => setTimeout(r, 20));
      controller.abort();
      await running;
      expect(outcomes).toHaveLength(4);
      expect(outcomes.every((o) => o.error?.code === 'aborted')).toBe(true);
      const inFlight = outcomes.filter((o) => o.jobId !== null);
      expect(inFlight.map((o) => o.index).sort()).toEqual([0, 1]);
      expect(slow.requests.filter((r) => r.endpoint === 'upload')).toHaveLength(2);
    } finally {
      await slow.close();
    }
  });
});
