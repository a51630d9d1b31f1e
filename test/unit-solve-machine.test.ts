/**
 * The solve statechart on its own: every actor is a fake that the test answers by hand, so each
 * transition, each state value and each abort can be observed one step at a time. Time is
 * simulated: Date is faked, and waits are the invoked `waitForNextPoll` actor, answered on demand.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { createActor, fromPromise } from 'xstate';
import { setFlagsFromString } from 'node:v8';
import {
  MAX_CONTEXT_KEYS,
  solveMachine,
  type Bounded,
  type StatusReadInput,
  type FetchedResult,
  type ResultRequest,
  type SolveMachineInput,
  type SolveSnapshot,
  type UploadActorInput,
  type WaitInput,
  type FetchResultInput,
} from '../machines/solve.machine.js';
import {
  ApiError,
  NetworkError,
  NotFoundError,
  SessionExpiredError,
  UnexpectedContentError,
} from '../src/errors.js';
import type { UploadDescriptor } from '../src/client/solve-input.js';
import type { Calibration, JobStatus, SubmissionStatus, UploadResult } from '../src/protocol/models.js';
import type { PollSchedule } from '../src/tasks/polling.js';
import type { PollAnswer } from '../src/protocol/api.js';
import type { ResultFile } from '../src/protocol/result-kinds.js';
import { ServerPool } from '../src/tasks/server-pool.js';
import { provideSolveTasks } from '../src/tasks/solve-tasks.js';
import { API_KEY, SESSION, fakeNova, hang, html, json, type Handler } from './helpers/fake-nova.js';

// ---------------------------------------------------------------------------------------------
// Harness: fake actors that record every invocation and answer when the test says so.

type ActorName = 'login' | 'upload' | 'readSubmission' | 'readJob' | 'readCalibration' | 'fetchResult' | 'waitForNextPoll';

interface Call {
  name: ActorName;
  input: any;
  signal: AbortSignal;
  settled: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const SCHEDULE: PollSchedule = { minIntervalMs: 1000, maxIntervalMs: 8000, fraction: 0.5, jitter: 0 };
const UPLOAD: UploadDescriptor = { kind: 'url', url: 'http://example.org/m42.jpg' };
const CAL: Calibration = { ra: 83.8, dec: -5.4, radius: 1.2, pixscale: 2.5, orientation: 12, parity: 1 };
const WCS: ResultFile = { kind: 'wcs', filename: 'wcs.fits', contentType: 'application/fits', bytes: new Uint8Array([1, 2, 3]) };

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** For runs over the real runtime (real timers): waits until `done()` holds, up to 5 s. */
async function waitUntil(done: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!done() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 2));
}

function sub(jobs: (number | null)[], extra: Partial<SubmissionStatus> = {}): SubmissionStatus {
  return {
    user: 1,
    processing_started: '2026-11-25T10:00:00.000Z',
    processing_finished: jobs.length ? '2026-11-25T10:00:01.000Z' : null,
    user_images: jobs.map((_, i) => 10 + i),
    images: jobs.map((_, i) => 20 + i),
    jobs,
    job_calibrations: [],
    ...extra,
  };
}

function harness(options: { hasSession?: boolean } = {}) {
  const calls: Record<ActorName, Call[]> = {
    login: [],
    upload: [],
    readSubmission: [],
    readJob: [],
    readCalibration: [],
    fetchResult: [],
    waitForNextPoll: [],
  };
  // Status reads answer { value, hold }; a test answers with the bare status (no long polling)
  // or with the whole answer.
  const isStatusRead = (name: ActorName) => name === 'readSubmission' || name === 'readJob';
  function fake<TOutput, TInput>(name: ActorName) {
    return fromPromise<TOutput, TInput>(
      ({ input, signal }) =>
        new Promise<TOutput>((resolve, reject) => {
          const call: Call = {
            name,
            input,
            signal,
            settled: false,
            resolve: (v) => {
              call.settled = true;
              const wrapped = isStatusRead(name) && !(typeof v === 'object' && v !== null && 'hold' in v) ? { value: v, hold: null } : v;
              resolve(wrapped as TOutput);
            },
            reject: (e) => {
              call.settled = true;
              reject(e);
            },
          };
          calls[name].push(call);
        }),
    );
  }
  const machine = solveMachine.provide({
    actors: {
      login: fake<void, Bounded>('login'),
      upload: fake<UploadResult, UploadActorInput>('upload'),
      readSubmission: fake<PollAnswer<SubmissionStatus>, StatusReadInput & { subid: number }>('readSubmission'),
      readJob: fake<PollAnswer<JobStatus>, StatusReadInput & { jobId: number }>('readJob'),
      readCalibration: fake<Calibration | undefined, Bounded & { jobId: number }>('readCalibration'),
      fetchResult: fake<FetchedResult, FetchResultInput>('fetchResult'),
      waitForNextPoll: fake<void, WaitInput>('waitForNextPoll'),
    },
    guards: { hasSession: () => options.hasSession ?? false },
  });
  return { machine, calls };
}

type Harness = ReturnType<typeof harness>;

/** A started actor over a harness, with helpers to answer its pending actor calls. */
function run(h: Harness, input: SolveMachineInput | { snapshot: unknown }) {
  const actor =
    'snapshot' in input
      ? createActor(h.machine, { snapshot: input.snapshot } as Parameters<typeof createActor<Harness['machine']>>[1])
      : createActor(h.machine, { input });
  const values: string[] = [];
  const errors: unknown[] = [];
  actor.subscribe({
    next: (s) => {
      const v = JSON.stringify(s.value);
      if (values[values.length - 1] !== v) values.push(v);
    },
    error: (e) => errors.push(e),
  });
  actor.start();

  async function pending(name: ActorName): Promise<Call> {
    for (let i = 0; i < 50; i++) {
      const call = h.calls[name].find((c) => !c.settled && !c.signal.aborted);
      if (call) return call;
      await flush();
    }
    throw new Error(`no pending ${name} call; state ${JSON.stringify(actor.getSnapshot().value)}`);
  }
  return {
    actor,
    values,
    errors,
    get snap(): SolveSnapshot {
      return actor.getSnapshot();
    },
    get value() {
      return actor.getSnapshot().value;
    },
    get context() {
      return actor.getSnapshot().context;
    },
    pending,
    async answer(name: ActorName, value?: unknown): Promise<Call> {
      const call = await pending(name);
      call.resolve(value);
      await flush();
      return call;
    },
    async fail(name: ActorName, error: unknown): Promise<Call> {
      const call = await pending(name);
      call.reject(error);
      await flush();
      return call;
    },
    async send(event: Parameters<typeof actor.send>[0]) {
      actor.send(event);
      await flush();
    },
  };
}

type Run = ReturnType<typeof run>;

const start = (h: Harness, extra: Partial<SolveMachineInput> = {}) => {
  const r = run(h, { upload: UPLOAD, options: { publicly_visible: 'n' }, schedule: SCHEDULE, ...extra });
  r.actor.send({ type: 'START' });
  return r;
};

/** The steps that lead to each active state, from a fresh start (no session). */
type ActiveState =
  | 'loggingIn'
  | 'uploading'
  | 'submissionPending.waiting'
  | 'submissionPending.reading'
  | 'jobRunning.reading'
  | 'jobRunning.waiting'
  | 'jobRunning.readingCalibration'
  | 'success';
const PATH: Record<ActiveState, (r: Run) => Promise<unknown>> = {
  loggingIn: async () => undefined,
  uploading: async (r) => r.answer('login'),
  'submissionPending.waiting': async (r) => {
    await PATH.uploading(r);
    await r.answer('upload', { subid: 101, hash: 'f'.repeat(40) });
  },
  'submissionPending.reading': async (r) => {
    await PATH['submissionPending.waiting'](r);
    await r.answer('waitForNextPoll');
  },
  'jobRunning.reading': async (r) => {
    await PATH['submissionPending.reading'](r);
    await r.answer('readSubmission', sub([202]));
  },
  'jobRunning.waiting': async (r) => {
    await PATH['jobRunning.reading'](r);
    await r.answer('readJob', 'solving');
  },
  'jobRunning.readingCalibration': async (r) => {
    await PATH['jobRunning.waiting'](r);
    await r.answer('waitForNextPoll');
    await r.answer('readJob', 'success');
  },
  success: async (r) => {
    await PATH['jobRunning.readingCalibration'](r);
    await r.answer('readCalibration', CAL);
  },
};

const asValue = (dotted: string) => {
  const [a, b] = dotted.split('.');
  return b === undefined ? a : { [a as string]: b };
};

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
});

// ---------------------------------------------------------------------------------------------

describe('the happy path', () => {
  test('idle → loggingIn → uploading → submissionPending → jobRunning → success, with exact state values', async () => {
    const h = harness();
    const r = run(h, { upload: UPLOAD, options: { publicly_visible: 'n' }, schedule: SCHEDULE });
    expect(r.value).toBe('idle');
    expect(h.calls.login).toHaveLength(0);
    await r.send({ type: 'START' });
    expect(r.value).toBe('loggingIn');

    await r.answer('login');
    expect(r.value).toBe('uploading');
    const upload = await r.pending('upload');
    // The bare machine issues no upload token (the tasks do); progress goes to the solve itself.
    expect(upload.input).toMatchObject({ upload: UPLOAD, options: { publicly_visible: 'n' }, deadline: null, server: null, attempt: null });
    expect(upload.input.progressTo.id).toBe(r.actor.id);

    upload.resolve({ subid: 101, hash: 'f'.repeat(40) });
    await flush();
    expect(r.value).toEqual({ submissionPending: 'waiting' });
    expect(r.context.subid).toBe(101);
    expect(r.context.hash).toBe('f'.repeat(40));
    // The first wait is the schedule's first delay, from now.
    expect((await r.pending('waitForNextPoll')).input).toEqual({ until: T0 + 1000, deadline: null });

    await r.answer('waitForNextPoll');
    expect(r.value).toEqual({ submissionPending: 'reading' });
    expect((await r.pending('readSubmission')).input).toEqual({ subid: 101, seen: null, deadline: null, server: null });
    await r.answer('readSubmission', sub([]));
    expect(r.value).toEqual({ submissionPending: 'waiting' });
    // Later waits are a share (here half) of the time the phase has taken; the clock stands
    // still, so the floor applies.
    expect((await r.pending('waitForNextPoll')).input).toEqual({ until: T0 + 1000, deadline: null });
    await r.answer('waitForNextPoll');
    await r.answer('readSubmission', sub([202]));
    expect(r.value).toEqual({ jobRunning: 'reading' });
    expect(r.context.jobId).toBe(202);
    expect((await r.pending('readJob')).input).toEqual({ jobId: 202, seen: null, deadline: null, server: null });

    await r.answer('readJob', 'solving');
    expect(r.value).toEqual({ jobRunning: 'waiting' });
    expect(r.context.jobStatus).toBe('solving');
    // A new phase starts its backoff again.
    expect((await r.pending('waitForNextPoll')).input).toEqual({ until: T0 + 1000, deadline: null });
    await r.answer('waitForNextPoll');
    await r.answer('readJob', 'success');
    expect(r.value).toEqual({ jobRunning: 'readingCalibration' });
    expect((await r.pending('readCalibration')).input).toEqual({ jobId: 202, deadline: null, server: null });
    await r.answer('readCalibration', CAL);

    expect(r.value).toEqual({ success: 'ready' });
    expect(r.values).toEqual(
      [
        'idle',
        'loggingIn',
        'uploading',
        { submissionPending: 'waiting' },
        { submissionPending: 'reading' },
        { submissionPending: 'waiting' },
        { submissionPending: 'reading' },
        { jobRunning: 'reading' },
        { jobRunning: 'waiting' },
        { jobRunning: 'reading' },
        { jobRunning: 'readingCalibration' },
        { success: 'ready' },
      ].map((v) => JSON.stringify(v)),
    );
    expect(r.context).toMatchObject({ subid: 101, jobId: 202, jobStatus: 'success', error: null, results: { calibration: CAL } });
    expect(Object.keys(r.context.stages).sort()).toEqual(['jobRunning', 'loggingIn', 'submissionPending', 'success', 'uploading']);
    expect(h.calls.login).toHaveLength(1);
    expect(h.calls.upload).toHaveLength(1);
    expect(h.calls.readSubmission).toHaveLength(2);
    expect(h.calls.readJob).toHaveLength(2);
    expect(h.calls.readCalibration).toHaveLength(1);
    expect(r.errors).toEqual([]);
  });

  test('the context stays an object with fast properties through a whole solve, however many assigns it takes', async () => {
    // xstate copies the context with Object.assign on every assign; with more than
    // MAX_CONTEXT_KEYS keys V8 makes that copy a dictionary, and the solve costs about twice
    // the CPU. %HasFastProperties asks V8 itself.
    setFlagsFromString('--allow-natives-syntax');
    const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;
    const h = harness();
    const r = run(h, { upload: UPLOAD, options: { publicly_visible: 'n' }, schedule: SCHEDULE, prefetch: [{ kind: 'wcs' }] });
    const slow: string[] = [];
    r.actor.subscribe((s) => {
      if (!hasFastProperties(s.context)) slow.push(JSON.stringify(s.value));
    });
    await r.send({ type: 'START' });
    await r.answer('login');
    await r.answer('upload', { subid: 101, hash: 'f'.repeat(40) });
    await r.answer('waitForNextPoll');
    await r.answer('readSubmission', sub([202]));
    await r.answer('readJob', 'solving');
    await r.answer('waitForNextPoll');
    await r.answer('readJob', 'success');
    await r.answer('readCalibration', CAL);
    await r.answer('fetchResult', { kind: 'wcs', value: { bytes: new Uint8Array(3), contentType: 'application/fits' } });
    expect(r.value).toEqual({ success: 'ready' });
    // The limit as this V8 has it (19 on Node 20), measured rather than assumed.
    const copyStaysFast = (keys: number) =>
      hasFastProperties(Object.assign({}, Object.fromEntries(Array.from({ length: keys }, (_, i) => [`k${i}`, i])), { k0: 1 }));
    let limit = 1;
    while (limit < 64 && copyStaysFast(limit + 1)) limit++;
    expect(MAX_CONTEXT_KEYS).toBeLessThanOrEqual(limit);
    expect(Object.keys(r.context).length).toBeLessThanOrEqual(MAX_CONTEXT_KEYS);
    expect(slow).toEqual([]);
  });

  test('with a session already held, START skips loggingIn', async () => {
    const h = harness({ hasSession: true });
    const r = start(h);
    await flush();
    expect(r.value).toBe('uploading');
    await r.answer('upload', { subid: 5 });
    expect(r.value).toEqual({ submissionPending: 'waiting' });
    expect(h.calls.login).toHaveLength(0);
    expect(r.context.stages.loggingIn).toBeUndefined();
    expect(r.values[1]).toBe('"uploading"');
  });

  test('UPLOAD_PROGRESS is kept in context while uploading', async () => {
    const h = harness({ hasSession: true });
    const r = start(h);
    await r.pending('upload');
    await r.send({ type: 'UPLOAD_PROGRESS', sentBytes: 500, totalBytes: 1000 });
    expect(r.context.uploadProgress).toEqual({ sentBytes: 500, totalBytes: 1000 });
  });

  test('submission error_message → failure submission_failed with the subid, and no job is polled', async () => {
    const h = harness();
    const r = start(h);
    await PATH['submissionPending.reading'](r);
    await r.answer('readSubmission', sub([], { error_message: '...IOError: cannot identify image file' }));
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error).toMatchObject({ name: 'SubmissionFailedError', code: 'submission_failed', subid: 101 });
    expect(r.context.error?.jobId).toBeUndefined();
    expect(r.context.error?.message).toContain('cannot identify image file');
    expect(r.context.submission?.error_message).toContain('IOError');
    expect(h.calls.readJob).toHaveLength(0);
  });

  test('jobs [null] (no solver slot yet) keeps polling the submission', async () => {
    const h = harness();
    const r = start(h);
    await PATH['submissionPending.reading'](r);
    for (let i = 0; i < 3; i++) {
      await r.answer('readSubmission', sub([null]));
      expect(r.value).toEqual({ submissionPending: 'waiting' });
      await r.answer('waitForNextPoll');
    }
    expect(h.calls.readJob).toHaveLength(0);
    await r.answer('readSubmission', sub([null, 303]));
    expect(r.value).toEqual({ jobRunning: 'reading' });
    expect(r.context.jobId).toBe(303);
    expect(h.calls.readSubmission).toHaveLength(4);
  });

  test.each(['failure', '?'] as const)('job status %j → failure job_failed with subid and jobId', async (status) => {
    const h = harness();
    const r = start(h);
    await PATH['jobRunning.reading'](r);
    await r.answer('readJob', status);
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.jobStatus).toBe(status);
    expect(r.context.error).toMatchObject({ name: 'JobFailedError', code: 'job_failed', subid: 101, jobId: 202 });
    expect(h.calls.readCalibration).toHaveLength(0);
  });

  test("a failure the server explains (serve's failure_reason) is explained in the error's message", async () => {
    const h = harness();
    const r = start(h);
    await PATH['jobRunning.reading'](r);
    await r.answer('readJob', { value: 'failure', hold: null, reason: "No installed index solves fields 34'–43' wide." });
    expect(r.context.error?.message).toBe(`Job 202 found no solution (status "failure"). No installed index solves fields 34'–43' wide.`);
  });

  test('job success without a calibration → failure job_failed', async () => {
    const h = harness();
    const r = start(h);
    await PATH['jobRunning.readingCalibration'](r);
    await r.answer('readCalibration', undefined);
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error).toMatchObject({ code: 'job_failed', subid: 101, jobId: 202 });
  });

  test('a job 404 goes back to the submission; the lost id is never polled again and the new id is followed', async () => {
    const h = harness();
    const r = start(h);
    await PATH['jobRunning.reading'](r);
    await r.fail('readJob', new NotFoundError('http://nova.test/api/jobs/202'));
    expect(r.value).toEqual({ submissionPending: 'waiting' });
    expect(r.context.recovery.lostJobIds).toEqual([202]);
    expect(r.context.jobId).toBeNull();
    expect(r.context.error).toBeNull();

    // The submission still names the lost job (stale): keep waiting, do not poll it.
    await r.answer('waitForNextPoll');
    await r.answer('readSubmission', sub([202]));
    expect(r.value).toEqual({ submissionPending: 'waiting' });
    await r.answer('waitForNextPoll');
    await r.answer('readSubmission', sub([202, 404]));
    expect(r.value).toEqual({ jobRunning: 'reading' });
    expect(r.context.jobId).toBe(404);
    await r.answer('readJob', 'success');
    await r.answer('readCalibration', CAL);
    expect(r.value).toEqual({ success: 'ready' });
    expect(h.calls.readJob.map((c) => c.input.jobId)).toEqual([202, 404]);
  });

  test('another job error (not a 404) fails the solve with its code', async () => {
    const h = harness();
    const r = start(h);
    await PATH['jobRunning.reading'](r);
    await r.fail('readJob', new NetworkError('socket hang up'));
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error).toMatchObject({ code: 'network', subid: 101, jobId: 202 });
  });

  test('a submission read error fails the solve', async () => {
    const h = harness();
    const r = start(h);
    await PATH['submissionPending.reading'](r);
    await r.fail('readSubmission', new UnexpectedContentError('a JSON answer', { url: 'u', status: 200, contentType: 'text/html', bodyStart: '<html>' }));
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error).toMatchObject({ code: 'unexpected_content', subid: 101 });
  });

  test('a login error fails the solve with code auth', async () => {
    const h = harness();
    const r = start(h);
    await r.fail('login', new ApiError('bad apikey'));
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error).toMatchObject({ code: 'api', name: 'ApiError' });
    expect(h.calls.upload).toHaveLength(0);
  });

  test('a plain Error from an actor is recorded with a code, never lost', async () => {
    const h = harness();
    const r = start(h);
    await r.fail('login', new TypeError('boom'));
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error).toMatchObject({ code: 'network', message: 'boom' });
  });
});

describe('upload progress through the runtime', () => {
  test('progress reaches the context, thinned to about 2 % steps, ending at the total', async () => {
    vi.useRealTimers();
    const MB = 2_000_000;
    const transport = fakeNova({}, {
      upload: (req) => {
        for (let sent = 0; sent <= MB; sent += 1000) req.onUploadProgress?.(sent, MB);
        req.onUploadProgress?.(MB, MB);
        return json({ status: 'success', subid: 101 });
      },
    });
    const machine = provideSolveTasks({
      transport,
      servers: new ServerPool(['http://nova.test/api/'], API_KEY),
      memory: new Map(),
      retry: { retries: 0, baseDelayMs: 0, maxDelayMs: 0 },
    });
    const actor = createActor(machine, { input: { upload: { kind: 'file', path: '/x/m42.fits', filename: 'm42.fits' }, schedule: SCHEDULE } });
    const seen: (string | null)[] = [];
    actor.subscribe({
      next: (s) => {
        const p = s.context.uploadProgress ? `${s.context.uploadProgress.sentBytes}/${s.context.uploadProgress.totalBytes}` : null;
        if (seen[seen.length - 1] !== p) seen.push(p);
      },
      error: () => undefined,
    });
    actor.start();
    actor.send({ type: 'START' });
    await waitUntil(() => actor.getSnapshot().matches('submissionPending'));
    actor.stop();
    const reports = seen.filter((p) => p !== null);
    expect(reports[0]).toBe(`0/${MB}`);
    expect(reports[reports.length - 1]).toBe(`${MB}/${MB}`);
    expect(reports.length).toBeGreaterThanOrEqual(40);
    expect(reports.length).toBeLessThanOrEqual(60);
  });

  test('a small upload (under 1 MiB) reports no progress: it is over before anyone could watch', async () => {
    vi.useRealTimers();
    const transport = fakeNova({}, {
      upload: (req) => {
        for (let sent = 0; sent <= 1000; sent++) req.onUploadProgress?.(sent, 1000);
        return json({ status: 'success', subid: 101 });
      },
    });
    const machine = provideSolveTasks({ transport, servers: new ServerPool(['http://nova.test/api/'], API_KEY), memory: new Map() });
    const actor = createActor(machine, { input: { upload: { kind: 'file', path: '/x/m42.fits', filename: 'm42.fits' }, schedule: SCHEDULE } });
    let reports = 0;
    actor.subscribe({ next: (s) => void (s.context.uploadProgress && reports++), error: () => undefined });
    actor.start();
    actor.send({ type: 'START' });
    await waitUntil(() => actor.getSnapshot().matches('submissionPending'));
    actor.stop();
    expect(reports).toBe(0);
  });
});

describe('session expiry during the upload', () => {
  test('SessionExpiredError on upload → loggingIn once, upload again, then success', async () => {
    const h = harness();
    const r = start(h);
    await r.answer('login');
    await r.fail('upload', new SessionExpiredError('expired'));
    expect(r.value).toBe('loggingIn');
    expect(r.context.recovery.relogins).toBe(1);
    expect(r.context.error).toBeNull();
    await r.answer('login');
    expect(r.value).toBe('uploading');
    await r.answer('upload', { subid: 101 });
    await r.answer('waitForNextPoll');
    await r.answer('readSubmission', sub([202]));
    await r.answer('readJob', 'success');
    await r.answer('readCalibration', CAL);
    expect(r.value).toEqual({ success: 'ready' });
    expect(h.calls.login).toHaveLength(2);
    expect(h.calls.upload).toHaveLength(2);
  });

  test('a second expiry fails with code auth', async () => {
    const h = harness();
    const r = start(h);
    await r.answer('login');
    await r.fail('upload', new SessionExpiredError('expired'));
    await r.answer('login');
    await r.fail('upload', new SessionExpiredError('expired again'));
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error).toMatchObject({ code: 'auth', name: 'SessionExpiredError' });
    expect(h.calls.login).toHaveLength(2);
    expect(h.calls.upload).toHaveLength(2);
  });

  test('an ApiError on upload is not retried', async () => {
    const h = harness();
    const r = start(h);
    await r.answer('login');
    await r.fail('upload', new ApiError('Failed to find an Album with title "x"'));
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error?.code).toBe('api');
    expect(h.calls.login).toHaveLength(1);
    expect(h.calls.upload).toHaveLength(1);
  });
});

describe('the deadline', () => {
  test('a wait that ends past the deadline → failure timeout (submission phase)', async () => {
    const h = harness();
    const r = start(h, { timeoutMs: 5000 });
    await PATH['submissionPending.waiting'](r);
    expect(r.context.deadline).toBe(T0 + 5000);
    const wait = await r.pending('waitForNextPoll');
    expect(wait.input).toEqual({ until: T0 + 1000, deadline: T0 + 5000 });
    vi.setSystemTime(T0 + 4999);
    await r.answer('waitForNextPoll');
    expect(r.value).toEqual({ submissionPending: 'reading' });
    await r.answer('readSubmission', sub([]));
    vi.setSystemTime(T0 + 5000);
    await r.answer('waitForNextPoll');
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error).toMatchObject({ name: 'TimeoutError', code: 'timeout', subid: 101 });
    expect(r.context.error?.message).toContain('5000');
    expect(h.calls.readSubmission).toHaveLength(1);
  });

  test('a wait that ends past the deadline → failure timeout (job phase), with the job id', async () => {
    const h = harness();
    const r = start(h, { timeoutMs: 60_000 });
    await PATH['jobRunning.waiting'](r);
    vi.setSystemTime(T0 + 61_000);
    await r.answer('waitForNextPoll');
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error).toMatchObject({ code: 'timeout', subid: 101, jobId: 202 });
    expect(h.calls.readJob).toHaveLength(1);
  });

  test('without timeoutMs there is no deadline', async () => {
    const h = harness();
    const r = start(h);
    await PATH['submissionPending.waiting'](r);
    expect(r.context.deadline).toBeNull();
    vi.setSystemTime(T0 + 365 * 86_400_000);
    await r.answer('waitForNextPoll');
    expect(r.value).toEqual({ submissionPending: 'reading' });
  });
});

describe('CANCEL', () => {
  test('from idle → failure aborted', async () => {
    const h = harness();
    const r = run(h, { upload: UPLOAD, schedule: SCHEDULE });
    await r.send({ type: 'CANCEL' });
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error).toMatchObject({ code: 'aborted', name: 'AbortedError', message: 'The solve was cancelled.' });
  });

  const active: [ActiveState, ActorName][] = [
    ['loggingIn', 'login'],
    ['uploading', 'upload'],
    ['submissionPending.waiting', 'waitForNextPoll'],
    ['submissionPending.reading', 'readSubmission'],
    ['jobRunning.reading', 'readJob'],
    ['jobRunning.waiting', 'waitForNextPoll'],
    ['jobRunning.readingCalibration', 'readCalibration'],
  ];
  test.each(active)('from %s → failure aborted, and the in-flight %s actor is aborted', async (state, actorName) => {
    const h = harness();
    const r = start(h);
    await PATH[state](r);
    expect(r.value).toEqual(asValue(state));
    const inFlight = await r.pending(actorName);
    expect(inFlight.signal.aborted).toBe(false);
    await r.send({ type: 'CANCEL', reason: 'user pressed ctrl-c' });
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error).toMatchObject({ code: 'aborted', message: 'user pressed ctrl-c' });
    expect(inFlight.signal.aborted).toBe(true);
    // The late answer of the aborted actor changes nothing.
    inFlight.resolve(undefined);
    await flush();
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error?.code).toBe('aborted');
  });

  test('keeps subid and jobId in the aborted error', async () => {
    const h = harness();
    const r = start(h);
    await PATH['jobRunning.waiting'](r);
    await r.send({ type: 'CANCEL' });
    expect(r.context.error).toMatchObject({ code: 'aborted', subid: 101, jobId: 202 });
  });

  test('while fetching results: the fetch is aborted and the solve stays a success', async () => {
    const h = harness();
    const r = start(h);
    await PATH.success(r);
    await r.send({ type: 'FETCH', kind: 'wcs' });
    await r.send({ type: 'FETCH', kind: 'info' });
    const inFlight = await r.pending('fetchResult');
    await r.send({ type: 'CANCEL' });
    expect(r.value).toEqual({ success: 'ready' });
    expect(r.context.error).toBeNull();
    expect(r.context.fetchQueue).toEqual([]);
    expect(inFlight.signal.aborted).toBe(true);
    expect(h.calls.fetchResult).toHaveLength(1);
  });

  test('in success or failure, CANCEL changes nothing', async () => {
    const h = harness();
    const r = start(h);
    await PATH.success(r);
    await r.send({ type: 'CANCEL' });
    expect(r.value).toEqual({ success: 'ready' });
    expect(r.context.error).toBeNull();
  });
});

describe('FETCH', () => {
  test('in success: fetched once, then cached (a second FETCH of the same kind invokes no actor)', async () => {
    const h = harness();
    const r = start(h);
    await PATH.success(r);
    await r.send({ type: 'FETCH', kind: 'wcs' });
    expect(r.value).toEqual({ success: 'fetchingResults' });
    const call = await r.answer('fetchResult', { kind: 'wcs', value: WCS });
    expect(call.input).toEqual({ jobId: 202, request: { kind: 'wcs' }, deadline: null, server: null, solved: true });
    expect(r.value).toEqual({ success: 'ready' });
    expect(r.context.results.files?.wcs).toEqual(WCS);

    await r.send({ type: 'FETCH', kind: 'wcs' });
    expect(r.value).toEqual({ success: 'ready' });
    expect(h.calls.fetchResult).toHaveLength(1);
  });

  test('the calibration read while solving is already cached: FETCH calibration invokes nothing', async () => {
    const h = harness();
    const r = start(h);
    await PATH.success(r);
    await r.send({ type: 'FETCH', kind: 'calibration' });
    expect(r.value).toEqual({ success: 'ready' });
    expect(h.calls.fetchResult).toHaveLength(0);
  });

  test('a queue of several kinds is fetched in order, duplicates dropped, each stored under its key', async () => {
    const h = harness();
    const r = start(h);
    await PATH.success(r);
    await r.send({ type: 'FETCH', kind: 'info' });
    await r.send({ type: 'FETCH', kind: 'wcs' });
    await r.send({ type: 'FETCH', kind: 'tags' });
    await r.send({ type: 'FETCH', kind: 'info' }); // queued already
    await r.send({ type: 'FETCH', kind: 'annotations', nbright: 5 });
    await r.send({ type: 'FETCH', kind: 'annotations' });
    await r.send({ type: 'FETCH', kind: 'annotations', nbright: 5 }); // queued already
    expect(r.context.fetchQueue).toEqual([
      { kind: 'info' },
      { kind: 'wcs' },
      { kind: 'tags' },
      { kind: 'annotations', nbright: 5 },
      { kind: 'annotations' },
    ]);
    const info = { status: 'success', original_filename: 'm42.jpg', objects_in_field: [], machine_tags: [], tags: [] };
    const bright = [{ type: 'bright', names: ['Rigel'], pixelx: 1, pixely: 2, radius: 0, vmag: 0.1 }];
    const all = [...bright, { type: 'ngc', names: ['NGC 1976'], pixelx: 3, pixely: 4, radius: 30 }];
    await r.answer('fetchResult', { kind: 'info', value: info });
    expect(r.value).toEqual({ success: 'fetchingResults' });
    await r.answer('fetchResult', { kind: 'wcs', value: WCS });
    await r.answer('fetchResult', { kind: 'tags', value: ['Orion'] });
    await r.answer('fetchResult', { kind: 'annotations', nbright: 5, value: bright });
    expect(r.value).toEqual({ success: 'fetchingResults' });
    await r.answer('fetchResult', { kind: 'annotations', value: all });
    expect(r.value).toEqual({ success: 'ready' });
    expect(h.calls.fetchResult.map((c) => c.input.request)).toEqual([
      { kind: 'info' },
      { kind: 'wcs' },
      { kind: 'tags' },
      { kind: 'annotations', nbright: 5 },
      { kind: 'annotations' },
    ]);
    expect(r.context.results).toMatchObject({ info, tags: ['Orion'], files: { wcs: WCS }, annotations: { '5': bright, all } });
    expect(r.context.fetchQueue).toEqual([]);
    // Everything is cached now.
    for (const kind of ['info', 'wcs', 'tags'] as const) await r.send({ type: 'FETCH', kind });
    await r.send({ type: 'FETCH', kind: 'annotations', nbright: 5 });
    await r.send({ type: 'FETCH', kind: 'annotations' });
    expect(r.value).toEqual({ success: 'ready' });
    expect(h.calls.fetchResult).toHaveLength(5);
    // A different nbright is a different result.
    await r.send({ type: 'FETCH', kind: 'annotations', nbright: 10 });
    expect(r.value).toEqual({ success: 'fetchingResults' });
  });

  test('in failure with a job id (a failed job still has a log): fetched, and the state returns to failure', async () => {
    const h = harness();
    const r = start(h);
    await PATH['jobRunning.reading'](r);
    await r.answer('readJob', 'failure');
    expect(r.value).toEqual({ failure: 'ready' });
    await r.send({ type: 'FETCH', kind: 'joblog' });
    expect(r.value).toEqual({ failure: 'fetchingResults' });
    const log: ResultFile = { kind: 'joblog', filename: 'job.log', contentType: 'text/plain', bytes: new Uint8Array([65]) };
    const call = await r.answer('fetchResult', { kind: 'joblog', value: log });
    expect(call.input).toEqual({ jobId: 202, request: { kind: 'joblog' }, deadline: null, server: null, solved: false });
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.results.files?.joblog).toEqual(log);
    expect(r.context.error).toMatchObject({ code: 'job_failed' });
    await r.send({ type: 'FETCH', kind: 'joblog' });
    expect(h.calls.fetchResult).toHaveLength(1);
  });

  test('in failure without a job id: nothing to fetch from, no actor', async () => {
    const h = harness();
    const r = start(h);
    await PATH['submissionPending.reading'](r);
    await r.answer('readSubmission', sub([], { error_message: 'bad file' }));
    await r.send({ type: 'FETCH', kind: 'joblog' });
    expect(r.value).toEqual({ failure: 'ready' });
    expect(h.calls.fetchResult).toHaveLength(0);
    expect(r.context.fetchQueue).toEqual([]);
  });

  test('a fetch error is recorded in resultErrors; the solve stays a success; a later FETCH retries and clears it', async () => {
    const h = harness();
    const r = start(h);
    await PATH.success(r);
    await r.send({ type: 'FETCH', kind: 'newFits' });
    await r.fail(
      'fetchResult',
      new UnexpectedContentError('the newFits file', { url: 'u', status: 200, contentType: 'text/html', bodyStart: 'image2pnm.py failed' }),
    );
    expect(r.value).toEqual({ success: 'ready' });
    expect(r.context.error).toBeNull();
    expect(r.context.resultErrors.newFits).toMatchObject({ code: 'unexpected_content', subid: 101, jobId: 202 });
    expect(r.context.results.files?.newFits).toBeUndefined();

    await r.send({ type: 'FETCH', kind: 'newFits' });
    expect(r.value).toEqual({ success: 'fetchingResults' });
    await r.answer('fetchResult', { kind: 'newFits', value: { ...WCS, kind: 'newFits' } });
    expect(r.value).toEqual({ success: 'ready' });
    expect(r.context.resultErrors.newFits).toBeUndefined();
    expect(r.context.results.files?.newFits).toBeDefined();
    expect(h.calls.fetchResult).toHaveLength(2);
  });

  test('an error in the middle of a queue does not stop the rest', async () => {
    const h = harness();
    const r = start(h);
    await PATH.success(r);
    await r.send({ type: 'FETCH', kind: 'corr' });
    await r.send({ type: 'FETCH', kind: 'wcs' });
    await r.fail('fetchResult', new NetworkError('reset'));
    expect(r.value).toEqual({ success: 'fetchingResults' });
    await r.answer('fetchResult', { kind: 'wcs', value: WCS });
    expect(r.value).toEqual({ success: 'ready' });
    expect(Object.keys(r.context.resultErrors)).toEqual(['corr']);
    expect(r.context.results.files?.wcs).toEqual(WCS);
  });

  test('prefetch: results asked for in the input are fetched as success is entered, before it is ready', async () => {
    const h = harness();
    const r = start(h, { prefetch: [{ kind: 'wcs' }, { kind: 'info' }] });
    await PATH['jobRunning.readingCalibration'](r);
    await r.answer('readCalibration', CAL);
    expect(r.value).toEqual({ success: 'fetchingResults' });
    expect(r.snap.hasTag('settled')).toBe(true);
    expect(r.snap.hasTag('fetching')).toBe(true);
    expect(r.context.results.calibration).toEqual(CAL);
    await r.answer('fetchResult', { kind: 'wcs', value: WCS });
    await r.answer('fetchResult', { kind: 'info', value: { status: 'success', original_filename: '', objects_in_field: [], machine_tags: [], tags: [] } });
    expect(r.value).toEqual({ success: 'ready' });
    expect(r.context.results.files?.wcs).toEqual(WCS);
    expect(h.calls.fetchResult.map((c) => c.input.request.kind)).toEqual(['wcs', 'info']);
  });
});

describe('polling', () => {
  test('waits grow with the time the phase has taken: a share of it, never below the floor', async () => {
    const h = harness();
    const r = start(h);
    await PATH['submissionPending.waiting'](r);
    expect((await r.pending('waitForNextPoll')).input.until).toBe(T0 + 1000);
    vi.setSystemTime(T0 + 10_000);
    await r.answer('waitForNextPoll');
    await r.answer('readSubmission', sub([]));
    // 10 s into the phase, half of it (SCHEDULE.fraction) is 5 s.
    expect((await r.pending('waitForNextPoll')).input.until).toBe(T0 + 15_000);
  });

  test('a server that holds reads is asked again at once, with the token it gave; a new phase starts without one', async () => {
    const h = harness();
    const r = start(h);
    await PATH['submissionPending.reading'](r);
    expect((await r.pending('readSubmission')).input.seen).toBeNull();
    vi.setSystemTime(T0 + 5000);
    await r.answer('readSubmission', { value: sub([]), hold: { token: 'abc', seconds: 600 } });
    expect(r.context.polling).toMatchObject({ token: 'abc', serverHoldsSeconds: 600 });
    // The last read began more than the floor ago: the next one starts at once, with no sleep.
    expect(r.value).toEqual({ submissionPending: 'reading' });
    expect(h.calls.waitForNextPoll.filter((c) => !c.settled && !c.signal.aborted)).toHaveLength(0);
    expect((await r.pending('readSubmission')).input).toMatchObject({ seen: 'abc' });
    await r.answer('readSubmission', { value: sub([202]), hold: { token: 'def', seconds: 600 } });
    expect(r.value).toEqual({ jobRunning: 'reading' });
    expect((await r.pending('readJob')).input).toMatchObject({ jobId: 202, seen: null });
  });

  test('a held read that came back at once still keeps the floor before the next', async () => {
    const h = harness();
    const r = start(h);
    await PATH['jobRunning.reading'](r);
    await r.answer('readJob', { value: 'solving', hold: { token: 't1', seconds: 600 } });
    expect((await r.pending('waitForNextPoll')).input.until).toBe(T0 + SCHEDULE.minIntervalMs);
  });
});

describe('POLL_NOW', () => {
  test('skips the submission wait: reads at once and aborts the wait', async () => {
    const h = harness();
    const r = start(h);
    await PATH['submissionPending.waiting'](r);
    const wait = await r.pending('waitForNextPoll');
    await r.send({ type: 'POLL_NOW' });
    expect(r.value).toEqual({ submissionPending: 'reading' });
    expect(wait.signal.aborted).toBe(true);
    expect(wait.settled).toBe(false);
    expect(h.calls.readSubmission).toHaveLength(1);
    // In reading, POLL_NOW does not start a second read.
    await r.send({ type: 'POLL_NOW' });
    expect(h.calls.readSubmission).toHaveLength(1);
  });

  test('skips the job wait, but never polls closer than the schedule minimum to the last poll', async () => {
    const h = harness();
    const r = start(h);
    await PATH['jobRunning.waiting'](r);
    const wait = await r.pending('waitForNextPoll');
    // The job was just read: an early poll now would break the minimum distance (1000 ms).
    await r.send({ type: 'POLL_NOW' });
    expect(r.value).toEqual({ jobRunning: 'waiting' });
    expect(h.calls.readJob).toHaveLength(1);
    vi.setSystemTime(Date.now() + SCHEDULE.minIntervalMs);
    await r.send({ type: 'POLL_NOW' });
    expect(r.value).toEqual({ jobRunning: 'reading' });
    expect(wait.signal.aborted).toBe(true);
    expect(h.calls.readJob).toHaveLength(2);
    await r.send({ type: 'POLL_NOW' });
    expect(h.calls.readJob).toHaveLength(2);
  });
});

describe('resume', () => {
  test('from a subid: no login, no upload, straight to the submission', async () => {
    const h = harness();
    const r = run(h, { subid: 77, schedule: SCHEDULE });
    await r.send({ type: 'START' });
    expect(r.value).toEqual({ submissionPending: 'waiting' });
    await r.answer('waitForNextPoll');
    expect((await r.pending('readSubmission')).input).toEqual({ subid: 77, seen: null, deadline: null, server: null });
    await r.answer('readSubmission', sub([88]));
    await r.answer('readJob', 'success');
    await r.answer('readCalibration', CAL);
    expect(r.value).toEqual({ success: 'ready' });
    expect(r.context).toMatchObject({ subid: 77, jobId: 88, upload: null });
    expect(h.calls.login).toHaveLength(0);
    expect(h.calls.upload).toHaveLength(0);
  });

  test('from a job id: straight to reading the job', async () => {
    const h = harness();
    const r = run(h, { jobId: 55, schedule: SCHEDULE });
    await r.send({ type: 'START' });
    expect(r.value).toEqual({ jobRunning: 'reading' });
    expect((await r.pending('readJob')).input).toEqual({ jobId: 55, seen: null, deadline: null, server: null });
    await r.answer('readJob', 'success');
    await r.answer('readCalibration', CAL);
    expect(r.value).toEqual({ success: 'ready' });
    expect(h.calls.login).toHaveLength(0);
    expect(h.calls.upload).toHaveLength(0);
    expect(h.calls.readSubmission).toHaveLength(0);
  });

  test('from a job id that answers 404: fails not_found (there is no subid to go back to)', async () => {
    const h = harness();
    const r = run(h, { jobId: 55, schedule: SCHEDULE });
    await r.send({ type: 'START' });
    await r.fail('readJob', new NotFoundError('http://nova.test/api/jobs/55'));
    expect(r.value).toEqual({ failure: 'ready' });
    expect(r.context.error).toMatchObject({ code: 'not_found', jobId: 55 });
    expect(h.calls.readSubmission).toHaveLength(0);
  });
});

describe('persistence', () => {
  const restorable = [
    ['submissionPending.waiting', 'waitForNextPoll'],
    ['jobRunning.waiting', 'waitForNextPoll'],
    ['submissionPending.reading', 'readSubmission'],
    ['jobRunning.reading', 'readJob'],
    ['jobRunning.readingCalibration', 'readCalibration'],
  ] as const;

  test.each(restorable)(
    'a snapshot persisted in %s survives JSON, re-arms %s when restored, and never uploads',
    async (state, armed) => {
      const h1 = harness();
      const r1 = start(h1);
      await PATH[state](r1);
      const before = await r1.pending(armed);
      const persisted = JSON.parse(JSON.stringify(r1.actor.getPersistedSnapshot()));
      r1.actor.stop();

      const h2 = harness();
      const r2 = run(h2, { snapshot: persisted });
      expect(r2.value).toEqual(asValue(state));
      expect(r2.context.subid).toBe(101);
      // The invoked actor is started again with the same input (the same poll time).
      const again = await r2.pending(armed);
      expect(again.input).toEqual(before.input);

      // And the solve carries on to success from there.
      const rest: Record<string, (r: Run) => Promise<unknown>> = {
        'submissionPending.waiting': async (r) => {
          await r.answer('waitForNextPoll');
          await r.answer('readSubmission', sub([202]));
          await r.answer('readJob', 'success');
        },
        'submissionPending.reading': async (r) => {
          await r.answer('readSubmission', sub([202]));
          await r.answer('readJob', 'success');
        },
        'jobRunning.waiting': async (r) => {
          await r.answer('waitForNextPoll');
          await r.answer('readJob', 'success');
        },
        'jobRunning.reading': async (r) => r.answer('readJob', 'success'),
        'jobRunning.readingCalibration': async () => undefined,
      };
      await rest[state]!(r2);
      await r2.answer('readCalibration', CAL);
      expect(r2.value).toEqual({ success: 'ready' });
      expect(r2.context).toMatchObject({ subid: 101, jobId: 202, results: { calibration: CAL } });
      expect(h2.calls.upload).toHaveLength(0);
      expect(h2.calls.login).toHaveLength(0);
      expect(r2.errors).toEqual([]);
    },
  );

  test('a restored waiting state still honours its deadline', async () => {
    const h1 = harness();
    const r1 = start(h1, { timeoutMs: 10_000 });
    await PATH['jobRunning.waiting'](r1);
    const persisted = JSON.parse(JSON.stringify(r1.actor.getPersistedSnapshot()));
    r1.actor.stop();
    const h2 = harness();
    const r2 = run(h2, { snapshot: persisted });
    expect((await r2.pending('waitForNextPoll')).input.deadline).toBe(T0 + 10_000);
    vi.setSystemTime(T0 + 10_001);
    await r2.answer('waitForNextPoll');
    expect(r2.value).toEqual({ failure: 'ready' });
    expect(r2.context.error?.code).toBe('timeout');
  });

  test('a snapshot persisted in uploading, restored through provideSolveTasks, fails upload_interrupted and never uploads again', async () => {
    vi.useRealTimers();
    const transport = fakeNova({}, { url_upload: hang() });
    const runtime = () =>
      provideSolveTasks({
        transport,
        servers: new ServerPool(['http://nova.test/api/'], API_KEY),
        memory: new Map(),
        retry: { retries: 0, baseDelayMs: 0, maxDelayMs: 0 },
      });
    const first = createActor(runtime(), { input: { upload: UPLOAD, options: {}, schedule: SCHEDULE } });
    first.subscribe({ error: () => undefined });
    first.start();
    first.send({ type: 'START' });
    await waitUntil(() => transport.requests.some((q) => q.path === '/api/url_upload'));
    expect(first.getSnapshot().value).toBe('uploading');
    const persisted = JSON.parse(JSON.stringify(first.getPersistedSnapshot()));
    first.stop();
    expect(JSON.stringify(persisted)).not.toContain(SESSION);
    expect(JSON.stringify(persisted)).not.toContain(API_KEY);

    const restored = createActor(runtime(), { snapshot: persisted } as Parameters<typeof createActor<ReturnType<typeof runtime>>>[1]);
    restored.subscribe({ error: () => undefined });
    restored.start();
    await waitUntil(() => restored.getSnapshot().matches('failure'));
    expect(restored.getSnapshot().value).toEqual({ failure: 'ready' });
    expect(restored.getSnapshot().context.error).toMatchObject({ code: 'upload_interrupted', name: 'UploadInterruptedError' });
    expect(transport.requests.filter((q) => q.path === '/api/url_upload')).toHaveLength(1);
    expect(transport.requests.map((q) => q.path)).toEqual(['/api/login', '/api/url_upload']);
  });

  test.each([
    ['an ApiError quoting the key', { url_upload: () => json({ status: 'error', errormessage: `Failed to find an Album with title "${API_KEY}" for ${SESSION}` }) }, 'api'],
    ['a session that expires twice', { url_upload: () => json({ status: 'error', errormessage: `no session with key "${SESSION}"` }) }, 'auth'],
    ['an HTML page quoting the key', { submission: () => html(200, `<html><body>session=${SESSION} apikey=${API_KEY}</body></html>`) }, 'unexpected_content'],
  ] as [string, Record<string, Handler>, string][])('a failure snapshot after %s holds no secret', async (_name, overrides, code) => {
    vi.useRealTimers();
    const transport = fakeNova({}, overrides);
    const machine = provideSolveTasks({
      transport,
      servers: new ServerPool(['http://nova.test/api/'], API_KEY),
      memory: new Map(),
      retry: { retries: 0, baseDelayMs: 0, maxDelayMs: 0 },
    });
    const fast: PollSchedule = { minIntervalMs: 0, maxIntervalMs: 0, fraction: 0.1, jitter: 0 };
    const actor = createActor(machine, { input: { upload: UPLOAD, options: {}, schedule: fast } });
    actor.subscribe({ error: () => undefined });
    actor.start();
    actor.send({ type: 'START' });
    await waitUntil(() => actor.getSnapshot().matches('failure'));
    const snapshot = actor.getSnapshot();
    expect(snapshot.value).toEqual({ failure: 'ready' });
    expect(snapshot.context.error?.code).toBe(code);
    const text = JSON.stringify(actor.getPersistedSnapshot());
    expect(text).not.toContain(SESSION);
    expect(text).not.toContain(API_KEY);
  });

  test('a submission error_message quoting a key is redacted in the recorded error', async () => {
    const h = harness();
    const r = start(h);
    await PATH['submissionPending.reading'](r);
    await r.answer('readSubmission', sub([], { error_message: `...KeyError: '${API_KEY}' in session ${SESSION}` }));
    expect(r.context.error?.code).toBe('submission_failed');
    const recorded = JSON.stringify(r.context.error);
    expect(recorded).toContain('KeyError');
    expect(recorded).not.toContain(API_KEY);
    expect(recorded).not.toContain(SESSION);
  });

  test('no persisted snapshot, in any state of a real run (relogin included), holds the API key or the session key', async () => {
    vi.useRealTimers();
    let uploads = 0;
    const transport = fakeNova(
      { pendingSubmissionPolls: 1, solvingPolls: 1 },
      {
        // The first upload meets an expired session: nova quotes the key back.
        url_upload: () =>
          ++uploads === 1
            ? json({ status: 'error', errormessage: `no session with key "${SESSION}"` })
            : json({ status: 'success', subid: 101 }),
      },
    );
    const machine = provideSolveTasks({
      transport,
      servers: new ServerPool(['http://nova.test/api/'], API_KEY),
      memory: new Map(),
      retry: { retries: 0, baseDelayMs: 0, maxDelayMs: 0 },
    });
    const fast: PollSchedule = { minIntervalMs: 0, maxIntervalMs: 0, fraction: 0.1, jitter: 0 };
    const actor = createActor(machine, { input: { upload: UPLOAD, options: {}, schedule: fast, timeoutMs: 60_000 } });
    const persisted: string[] = [];
    const seen = new Set<string>();
    actor.subscribe({
      next: (s) => {
        seen.add(JSON.stringify(s.value));
        persisted.push(JSON.stringify(actor.getPersistedSnapshot()));
      },
      error: () => undefined,
    });
    actor.start();
    actor.send({ type: 'START' });
    await waitUntil(() => actor.getSnapshot().matches('success'));
    expect(actor.getSnapshot().value).toEqual({ success: 'ready' });
    actor.send({ type: 'FETCH', kind: 'info' });
    await waitUntil(() => actor.getSnapshot().context.results.info !== undefined);
    expect(actor.getSnapshot().context.results.info).toBeDefined();
    expect(actor.getSnapshot().context.recovery.relogins).toBe(1);
    expect([...seen]).toEqual(
      expect.arrayContaining(['"loggingIn"', '"uploading"', '{"submissionPending":"reading"}', '{"jobRunning":"reading"}', '{"success":"ready"}', '{"success":"fetchingResults"}']),
    );
    expect(persisted.length).toBeGreaterThan(8);
    for (const text of persisted) {
      expect(text).not.toContain(SESSION);
      expect(text).not.toContain(API_KEY);
    }
  });
});
