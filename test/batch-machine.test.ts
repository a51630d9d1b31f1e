import { describe, expect, test } from 'vitest';
import { createActor, toPromise } from 'xstate';
import { batchMachine, type BatchItem } from '../machines/batch.machine.js';
import { batchProgress, itemProgress, type ItemProgress } from '../src/client/batch-driver.js';
import type { AnyActorRef } from 'xstate';
import { Session } from '../src/client/session.js';
import { API_KEY, fakeNova, json } from './helpers/fake-nova.js';

function setup(count: number, concurrency: number, transport = fakeNova()) {
  const session = new Session({
    apiKey: API_KEY,
    apiUrl: 'http://127.0.0.1:1/api/',
    transport,
    polling: { minIntervalMs: 0, maxIntervalMs: 2 },
  });
  const items: BatchItem[] = Array.from({ length: count }, (_, i) => ({
    id: `item-${i}`,
    input: { upload: { kind: 'url', url: `http://example.org/${i}.png` }, options: {}, schedule: session.schedule, prefetch: [{ kind: 'wcs' }] },
  }));
  const actor = createActor(batchMachine.provide({ actors: { solve: session.endingMachine } }), { input: { items, concurrency } });
  const summaries: ItemProgress[] = [];
  actor.on('itemSettled', (e) => summaries.push(itemProgress(e.id, e.snapshot)));
  return { actor, transport, summaries };
}

describe('batch machine', () => {
  test('never has more live children than its concurrency, and stops each settled one', async () => {
    const { actor, summaries } = setup(7, 3);
    let maxLive = 0;
    actor.subscribe((s) => (maxLive = Math.max(maxLive, Object.keys(s.children).length)));
    actor.start();
    const output = await toPromise(actor);
    expect(maxLive).toBe(3);
    expect(Object.keys(actor.getSnapshot().children)).toEqual([]);
    expect(summaries.map((s) => s.id).sort()).toEqual(Array.from({ length: 7 }, (_, i) => `item-${i}`).sort());
    expect(output).toEqual({ settled: 7, notStarted: [] });
  });

  test('announces each settled item with its own results, and shares one login', async () => {
    const transport = fakeNova({}, {
      // Each upload gets its own subid, each submission its own job: results must pair up.
      url_upload: (_req, rec) => json({ status: 'success', subid: 1000 + Number(/(\d+)\.png/.exec(String(rec.json?.url))?.[1]) }),
      submission: (req) => {
        const subid = Number(/submissions\/(\d+)/.exec(req.url)?.[1]);
        return json({ processing_started: 'None', processing_finished: 'None', user: 1, user_images: [1], images: [1], jobs: [subid + 1000], job_calibrations: [] });
      },
    });
    const { actor } = setup(4, 2, transport);
    const settled: { id: string; subid: number | null; jobId: number | null; wcs: boolean }[] = [];
    actor.on('itemSettled', (e) =>
      settled.push({ id: e.id, subid: e.snapshot.context.subid, jobId: e.snapshot.context.jobId, wcs: e.snapshot.context.results.files?.wcs !== undefined }),
    );
    actor.start();
    await toPromise(actor);
    for (const item of settled) {
      const n = Number(item.id.split('-')[1]);
      expect(item).toEqual({ id: item.id, subid: 1000 + n, jobId: 2000 + n, wcs: true });
    }
    expect(settled).toHaveLength(4);
    expect(transport.requests.filter((r) => r.path === '/api/login')).toHaveLength(1);
  });

  test('one failing item does not stop the batch', async () => {
    let n = 0;
    const transport = fakeNova({}, { job: () => json({ status: n++ === 0 ? 'failure' : 'success' }) });
    const { actor, summaries } = setup(3, 1, transport);
    actor.start();
    await toPromise(actor);
    expect(summaries.map((s) => s.phase).sort()).toEqual(['failure', 'success', 'success']);
    expect(summaries.find((s) => s.phase === 'failure')?.error?.code).toBe('job_failed');
  });

  test('DRAIN lets the running solves finish and starts no other', async () => {
    const { actor, summaries } = setup(6, 2);
    actor.start();
    actor.send({ type: 'DRAIN' });
    const output = await toPromise(actor);
    expect(summaries.map((s) => s.id).sort()).toEqual(['item-0', 'item-1']);
    expect(summaries.every((s) => s.phase === 'success')).toBe(true);
    expect(output.notStarted).toEqual(['item-2', 'item-3', 'item-4', 'item-5']);
  });

  test('tells of each child as it starts, whose snapshots show every state, and hears of it again only when it ends', async () => {
    const { actor } = setup(2, 2);
    const phases = new Map<string, string[]>();
    actor.on('itemStarted', ({ id, child }) => {
      const ref = actor.getSnapshot().children[child] as AnyActorRef;
      ref.subscribe((snapshot) => {
        const list = phases.get(id) ?? [];
        const top = typeof snapshot.value === 'string' ? snapshot.value : Object.entries(snapshot.value).map(([k, v]) => (k === 'success' ? `${k}.${v}` : k))[0];
        if (list.at(-1) !== top) list.push(String(top));
        phases.set(id, list);
      });
    });
    // The batch itself steps once per start and once per end, not once per step of a solve.
    let batchSteps = 0;
    actor.subscribe(() => batchSteps++);
    actor.start();
    await toPromise(actor);
    for (const id of ['item-0', 'item-1']) {
      expect(phases.get(id)?.[0]).toMatch(/^(idle|loggingIn|uploading)$/);
      // The prefetched files are downloaded under success before the item ends.
      expect(phases.get(id)?.slice(-3)).toEqual(['jobRunning', 'success.fetchingResults', 'ended']);
    }
    expect(batchSteps).toBeLessThanOrEqual(4);
    expect(JSON.stringify(actor.getSnapshot().context.items)).not.toContain('batchItemId');
  });

  test('DRAIN until uploaded: nothing new starts, the upload in flight lands, then the rest is cancelled and settles as aborted', async () => {
    let releaseUpload: (() => void) | undefined;
    const uploadHeld = new Promise<void>((r) => (releaseUpload = r));
    let uploads = 0;
    const transport = fakeNova({ solvingPolls: 1000 }, {
      url_upload: async () => {
        if (uploads++ === 1) await uploadHeld;
        return json({ status: 'success', subid: 100 + uploads });
      },
    });
    const { actor, summaries } = setup(5, 2, transport);
    const phases: string[] = [];
    actor.subscribe((s) => phases.at(-1) !== s.value && phases.push(String(s.value)));
    actor.start();
    // Wait until one solve is polling its job and the other's upload is held.
    while (!(batchProgress(actor.getSnapshot()).running.some((r) => r.stage === 'jobRunning') && batchProgress(actor.getSnapshot()).running.some((r) => r.stage === 'uploading'))) {
      await new Promise((r) => setTimeout(r, 2));
    }
    actor.send({ type: 'DRAIN', until: 'uploaded' });
    expect(actor.getSnapshot().value).toBe('draining');
    releaseUpload?.();
    const output = await toPromise(actor);
    expect(phases).toEqual(['running', 'draining', 'stopping', 'done']);
    expect(output.notStarted).toEqual(['item-2', 'item-3', 'item-4']);
    expect(uploads).toBe(2);
    // Both got their submission before they were cancelled: a later run resumes them from it.
    expect(summaries.map((s) => [s.id, s.error?.code, s.subid !== null]).sort()).toEqual([
      ['item-0', 'aborted', true],
      ['item-1', 'aborted', true],
    ]);
  });

  test('CANCEL stops at once: the running solves settle as aborted before the batch is done', async () => {
    const transport = fakeNova({ solvingPolls: 1000 });
    const { actor, summaries } = setup(4, 2, transport);
    actor.start();
    while (!batchProgress(actor.getSnapshot()).running.every((r) => r.stage === 'jobRunning')) await new Promise((r) => setTimeout(r, 2));
    actor.send({ type: 'CANCEL', reason: 'Enough.' });
    const output = await toPromise(actor);
    expect(summaries.map((s) => [s.id, s.phase, s.error?.code, s.error?.message]).sort()).toEqual([
      ['item-0', 'failure', 'aborted', 'Enough.'],
      ['item-1', 'failure', 'aborted', 'Enough.'],
    ]);
    expect(output).toEqual({ settled: 2, notStarted: ['item-2', 'item-3'] });
    expect(Object.keys(actor.getSnapshot().children)).toEqual([]);
  });
});
