/**
 * Reachability of the real solve machine, explored by xstate/graph with synthetic actor events
 * (`xstate.done.actor.<id>`, `xstate.error.actor.<id>`) in place of requests.
 *
 * The expected state list is written out: a state added without a path to it (or a state that
 * loses its only path) fails here.
 */
import { describe, expect, test } from 'vitest';
import { getNextSnapshot, type AnyStateNode } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import { solveMachine, type SolveMachineInput, type SolveSnapshot } from '../machines/solve.machine.js';
import { NetworkError, NotFoundError, SessionExpiredError, UnexpectedContentError } from '../src/errors.js';
import type { Calibration, SubmissionStatus } from '../src/protocol/models.js';
import { polls } from '../src/client/started-solve.js';

const SCHEDULE = { minIntervalMs: 1000, maxIntervalMs: 8000, fraction: 0.5, jitter: 0 };
const CAL: Calibration = { ra: 1, dec: 2, radius: 3, pixscale: 4, orientation: 5, parity: 1 };
const sub = (jobs: (number | null)[], extra: Partial<SubmissionStatus> = {}): SubmissionStatus => ({
  user: 1,
  processing_started: null,
  processing_finished: null,
  user_images: [],
  images: [],
  jobs,
  job_calibrations: [],
  ...extra,
});

const done = (id: string, output?: unknown) => ({ type: `xstate.done.actor.${id}`, output });
/** A status read's answer: the body, and no long-poll hold (as nova answers). */
const answer = <T>(value: T) => ({ value, hold: null });
const error = (id: string, err: unknown) => ({ type: `xstate.error.actor.${id}`, error: err });

/** Every event the machine can meet: the user's, and each actor's outcomes. */
const EVENTS = [
  { type: 'START' },
  { type: 'CANCEL' },
  { type: 'POLL_NOW' },
  { type: 'FETCH', kind: 'wcs' },
  { type: 'UPLOAD_PROGRESS', sentBytes: 1, totalBytes: 2 },
  done('login'),
  error('login', new NetworkError('down')),
  done('upload', { subid: 101 }),
  error('upload', new SessionExpiredError('expired')),
  error('upload', new NetworkError('reset')),
  done('waitForNextPoll'),
  done('readSubmission', answer(sub([]))),
  done('readSubmission', answer(sub([null]))),
  done('readSubmission', answer(sub([202]))),
  done('readSubmission', answer(sub([], { error_message: 'bad file' }))),
  error('readSubmission', new NetworkError('reset')),
  done('readJob', answer('solving')),
  done('readJob', answer('success')),
  done('readJob', answer('failure')),
  error('readJob', new NotFoundError('http://nova.test/api/jobs/202')),
  error('readJob', new NetworkError('reset')),
  done('readCalibration', CAL),
  done('readCalibration', undefined),
  done('fetchResult', { kind: 'wcs', value: { kind: 'wcs', filename: 'wcs.fits', contentType: 'application/fits', bytes: new Uint8Array() } }),
  error('fetchResult', new UnexpectedContentError('the wcs file', { url: 'u', status: 500, contentType: 'text/html', bodyStart: '' })),
] as const;

// What distinguishes states for the purpose of reachability: the value, whether the solve has
// failed, whether there is a job to fetch from, and how much is queued.
const serializeState = (s: SolveSnapshot) =>
  JSON.stringify([s.value, s.context.error === null, s.context.jobId !== null, s.context.fetchQueue.length, s.context.recovery.relogins]);

const INPUT: SolveMachineInput = { upload: { kind: 'url', url: 'http://example.org/a.jpg' }, options: {}, schedule: SCHEDULE };

function explore(input: SolveMachineInput = INPUT) {
  return getShortestPaths(solveMachine, {
    input,
    events: EVENTS as never,
    serializeState: serializeState as never,
  }) as unknown as { state: SolveSnapshot; steps: { event: { type: string } }[] }[];
}

/** The machine's own atomic states, as state values (`{ parent: child }` for nested ones). */
function atomicStates(node: AnyStateNode): string[] {
  const children = Object.values(node.states) as AnyStateNode[];
  if (children.length === 0) {
    const path = node.path;
    return [JSON.stringify(path.length === 1 ? path[0] : { [path[0] as string]: path[1] })];
  }
  return children.flatMap(atomicStates);
}

const EXPECTED = [
  'idle',
  'loggingIn',
  'uploading',
  { submissionPending: 'waiting' },
  { submissionPending: 'reading' },
  { jobRunning: 'reading' },
  { jobRunning: 'waiting' },
  { jobRunning: 'readingCalibration' },
  { success: 'ready' },
  { success: 'fetchingResults' },
  { failure: 'ready' },
  { failure: 'fetchingResults' },
].map((v) => JSON.stringify(v));

describe('every state of the solve machine is reachable', () => {
  const paths = explore();
  const reached = new Set(paths.map((p) => JSON.stringify(p.state.value)));

  test('the reached state values are exactly the expected list', () => {
    expect([...reached].sort()).toEqual([...EXPECTED].sort());
  });

  test("the expected list is exactly the machine's atomic states (no state without a path) but the transient ones", () => {
    // Left in the step that enters them (only eventless transitions): never a snapshot's state.
    const TRANSIENT = [{ submissionPending: 'scheduling' }, { jobRunning: 'scheduling' }].map((v) => JSON.stringify(v));
    expect(atomicStates(solveMachine.root).sort()).toEqual([...EXPECTED, ...TRANSIENT].sort());
    for (const state of TRANSIENT) expect(reached.has(state)).toBe(false);
  });

  test('success is only ever reached with a calibration and no error; failure always carries an error with a code', () => {
    for (const p of paths) {
      if (p.state.matches('success')) {
        expect(p.state.context.error).toBeNull();
        expect(p.state.context.results.calibration).toEqual(CAL);
        const types = p.steps.map((s) => s.event.type);
        expect(types).toContain('xstate.done.actor.upload');
        expect(types).toContain('xstate.done.actor.readCalibration');
      }
      if (p.state.matches('failure')) {
        expect(p.state.context.error?.code).toEqual(expect.any(String));
      }
    }
  });

  test('the shortest way to success is login, upload, one submission poll, one job poll, the calibration', () => {
    const toSuccess = paths
      .filter((p) => p.state.matches('success') && p.state.context.recovery.relogins === 0)
      .sort((a, b) => a.steps.length - b.steps.length)[0];
    expect(toSuccess).toBeDefined();
    const types = toSuccess!.steps.map((s) => s.event.type);
    expect(types[0]).toBe('xstate.init');
    expect(types.slice(1)).toEqual([
      'START',
      'xstate.done.actor.login',
      'xstate.done.actor.upload',
      expect.stringMatching(/^(xstate\.done\.actor\.waitForNextPoll|POLL_NOW)$/),
      'xstate.done.actor.readSubmission',
      'xstate.done.actor.readJob',
      'xstate.done.actor.readCalibration',
    ]);
  });

  test('CANCEL from every state that works on the solve ends in failure with code aborted', () => {
    const working = paths.filter((p) => !['success', 'failure'].some((v) => p.state.matches(v as never)));
    expect(new Set(working.map((p) => JSON.stringify(p.state.value))).size).toBe(8);
    for (const p of working) {
      const next = getNextSnapshot(solveMachine, p.state, { type: 'CANCEL' }) as SolveSnapshot;
      expect(next.value).toEqual({ failure: 'ready' });
      expect(next.context.error?.code).toBe('aborted');
    }
  });

  test('a session may expire once during the upload: the second time ends in failure code auth', () => {
    const relogged = paths.filter((p) => p.state.context.recovery.relogins === 1);
    expect(relogged.length).toBeGreaterThan(0);
    const uploading = relogged.find((p) => p.state.matches('uploading'));
    expect(uploading).toBeDefined();
    const next = getNextSnapshot(solveMachine, uploading!.state, error('upload', new SessionExpiredError('again')) as never) as SolveSnapshot;
    expect(next.value).toEqual({ failure: 'ready' });
    expect(next.context.error?.code).toBe('auth');
    expect(paths.some((p) => p.state.context.recovery.relogins > 1)).toBe(false);
  });

  test('the tags the facades ask stand for the states they replace, in every reachable state', () => {
    const is = (s: SolveSnapshot, value: unknown) => JSON.stringify(s.value) === JSON.stringify(value);
    for (const { state: s } of paths) {
      expect(s.hasTag('idle')).toBe(is(s, 'idle'));
      expect(s.hasTag('polling')).toBe(is(s, { submissionPending: 'waiting' }) || is(s, { jobRunning: 'waiting' }));
      expect(s.hasTag('reading')).toBe(is(s, { submissionPending: 'reading' }) || is(s, { jobRunning: 'reading' }));
      // The phase comes from the context: no job id while the submission is polled, one after.
      expect(polls.submissionWaiting(s)).toBe(is(s, { submissionPending: 'waiting' }));
      expect(polls.submissionReading(s)).toBe(is(s, { submissionPending: 'reading' }));
      expect(polls.jobWaiting(s)).toBe(is(s, { jobRunning: 'waiting' }));
      expect(polls.jobReading(s)).toBe(is(s, { jobRunning: 'reading' }));
    }
  });

  test('simple paths agree: no path reaches success without a job id, or fetchingResults without one', () => {
    const simple = getSimplePaths(solveMachine, {
      input: INPUT,
      events: EVENTS as never,
      // Failure is reached both before and after a job exists; only the latter may fetch, so the
      // two are told apart (by value alone, the job-less failure would hide the fetching one).
      serializeState: ((s: SolveSnapshot) => JSON.stringify([s.value, s.context.jobId !== null])) as never,
    }) as unknown as { state: SolveSnapshot }[];
    const simpleReached = new Set(simple.map((p) => JSON.stringify(p.state.value)));
    expect([...simpleReached].sort()).toEqual([...EXPECTED].sort());
    for (const p of simple) {
      if (p.state.matches('success') || p.state.hasTag('fetching')) expect(p.state.context.jobId).not.toBeNull();
    }
  });
});

describe('resumed machines skip what they do not need', () => {
  test('from a subid, START goes straight to the submission and no path ever uploads', () => {
    const paths = explore({ subid: 77, schedule: SCHEDULE });
    const start = paths.find((p) => p.steps.length === 2 && p.steps[1]!.event.type === 'START');
    expect(start?.state.value).toEqual({ submissionPending: 'waiting' });
    const reached = new Set(paths.map((p) => JSON.stringify(p.state.value)));
    expect(reached.has('"loggingIn"')).toBe(false);
    expect(reached.has('"uploading"')).toBe(false);
  });

  test('from a job id, START goes straight to reading the job', () => {
    const paths = explore({ jobId: 55, schedule: SCHEDULE });
    const start = paths.find((p) => p.steps.length === 2 && p.steps[1]!.event.type === 'START');
    expect(start?.state.value).toEqual({ jobRunning: 'reading' });
    const reached = new Set(paths.map((p) => JSON.stringify(p.state.value)));
    expect(reached.has('"uploading"')).toBe(false);
    expect(reached.has(JSON.stringify({ success: 'ready' }))).toBe(true);
  });
});
