/**
 * The clock is a dependency of the machines: a solve built with `provideSolveTasks({ now })` reads
 * the time from `now` only, in its guards, actions and inputs, in its tasks (waits, long polls)
 * and in the exchange's deadline checks. The fake clock here starts in 2001, far from the real
 * date, so any read of `Date` would show at once (a deadline long past, a wait of -25 years).
 * Only `setTimeout` is faked, and moved with the clock: nothing waits for real.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { createActor } from 'xstate';
import type { SolveMachineInput } from '../machines/solve.machine.js';
import type { PollSchedule } from '../src/tasks/polling.js';
import { ServerPool } from '../src/tasks/server-pool.js';
import { provideSolveTasks } from '../src/tasks/solve-tasks.js';
import { provideAccountTasks } from '../src/tasks/account-tasks.js';
import { API_KEY, fakeNova, json, type Handler } from './helpers/fake-nova.js';

const T0 = Date.UTC(2001, 0, 1);
const SCHEDULE: PollSchedule = { minIntervalMs: 1000, maxIntervalMs: 8000, fraction: 0.5, jitter: 0 };
const INPUT: SolveMachineInput = { upload: { kind: 'url', url: 'http://example.org/m42.jpg' }, options: {}, schedule: SCHEDULE, timeoutMs: 20_000 };

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

let t = T0;
const now = () => t;
/** Moves the fake clock and the fake timers together, then lets the solve react. */
async function advanceTo(ms: number) {
  const by = T0 + ms - t;
  if (by < 0) throw new Error(`the clock cannot go back (${ms} < ${t - T0})`);
  t += by;
  await vi.advanceTimersByTimeAsync(by);
  await flush();
}

/** A submission that never gets a job; each read notes the fake time it came at and the hold asked for. */
function novaWithoutJob() {
  const reads: { at: number; wait: string | null }[] = [];
  const submission: Handler = (_req, recorded) => {
    reads.push({ at: t - T0, wait: new URLSearchParams(recorded.query).get('wait') });
    return json({ processing_started: 'None', processing_finished: 'None', user: 1, user_images: [], images: [], jobs: [], job_calibrations: [] });
  };
  return { transport: fakeNova({}, { submission }), reads };
}

function solve(transport: ReturnType<typeof fakeNova>) {
  const machine = provideSolveTasks({ transport, servers: new ServerPool(['http://nova.test/api/'], API_KEY), memory: new Map(), now });
  const actor = createActor(machine, { input: INPUT });
  actor.start();
  actor.send({ type: 'START' });
  return actor;
}

beforeEach(() => {
  t = T0;
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('a solve on an injected clock', () => {
  test('polls on the schedule of the fake time, and fails with a timeout exactly when it passes the deadline', async () => {
    const nova = novaWithoutJob();
    const actor = solve(nova.transport);
    await flush();
    const { context } = actor.getSnapshot();
    expect(actor.getSnapshot().value).toEqual({ submissionPending: 'waiting' });
    expect(context.deadline).toBe(T0 + 20_000);
    expect(context.stages).toMatchObject({ loggingIn: T0, uploading: T0, submissionPending: T0 });
    expect(context.polling).toMatchObject({ phaseStartedAt: T0, nextPollAt: T0 + 1000 });

    // Each wait is half the time the phase has taken, never under 1 s: 1000, 2000, 3000, then
    // 3000 + 1500, 4500 + 2250, 6750 + 3375, 10125 + 5063.
    const expected = [1000, 2000, 3000, 4500, 6750, 10_125, 15_188];
    for (const at of expected) {
      await advanceTo(at - 1);
      expect(nova.reads.map((r) => r.at)).toEqual(expected.filter((e) => e < at));
      await advanceTo(at);
      expect(nova.reads.map((r) => r.at)).toEqual(expected.filter((e) => e <= at));
    }
    // A status read asks to be held until the deadline at most, in seconds left on the fake clock.
    expect(nova.reads[0]?.wait).toBe('19');
    expect(nova.reads[6]?.wait).toBe('4');

    // The next poll (15188 + 7594) falls after the deadline: the wait ends at the deadline itself.
    expect(actor.getSnapshot().context.polling.nextPollAt).toBe(T0 + 22_782);
    await advanceTo(19_999);
    expect(actor.getSnapshot().value).toEqual({ submissionPending: 'waiting' });
    await advanceTo(20_000);
    const end = actor.getSnapshot();
    expect(end.value).toEqual({ failure: 'ready' });
    expect(end.context.error).toMatchObject({ code: 'timeout', subid: 101 });
    expect(end.context.stages.failure).toBe(T0 + 20_000);
    expect(nova.reads).toHaveLength(expected.length);
    actor.stop();
  });

  test('POLL_NOW is refused until the fake clock is the schedule minimum past the last read', async () => {
    const nova = novaWithoutJob();
    const actor = solve(nova.transport);
    await flush();
    for (const at of [1000, 2000, 3000]) await advanceTo(at);
    expect(nova.reads).toHaveLength(3);
    await advanceTo(3999);
    actor.send({ type: 'POLL_NOW' });
    await flush();
    expect(actor.getSnapshot().value).toEqual({ submissionPending: 'waiting' });
    expect(nova.reads).toHaveLength(3);
    await advanceTo(4000);
    actor.send({ type: 'POLL_NOW' });
    await flush();
    expect(nova.reads.map((r) => r.at)).toEqual([1000, 2000, 3000, 4000]);
    // The schedule goes on from the early read: half of the 4 s the phase has taken.
    expect(actor.getSnapshot().context.polling).toMatchObject({ lastPollAt: T0 + 4000, nextPollAt: T0 + 6000 });
    actor.stop();
  });

  test("an account query's deadline is on the injected clock too", () => {
    const machine = provideAccountTasks({ transport: fakeNova(), servers: new ServerPool(['http://nova.test/api/'], API_KEY), memory: new Map(), now });
    const actor = createActor(machine, { input: { query: { kind: 'myJobs' }, timeoutMs: 5000 } });
    expect(actor.getSnapshot().context.deadline).toBe(T0 + 5000);
  });
});
