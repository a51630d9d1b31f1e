/**
 * `createSolveLogic(client)` invoked by a parent machine, as a user's app would: it starts by itself,
 * hands the parent its output (or a typed error), keeps bytes out of snapshots, survives a
 * persisted parent snapshot without a second upload, and shows both actors to an inspector.
 */
import { describe, expect, expectTypeOf, test } from 'vitest';
import { assign, createActor, sendTo, setup, toPromise, type AnyActorRef, type InputFrom, type OutputFrom, type InspectedSnapshotEvent, type InspectionEvent } from 'xstate';
import { Client } from '../src/client/client.js';
import { AbortedError, AstrometryNetError, JobFailedError, ValidationError, type SerializedError } from '../src/errors.js';
import { sanitizedInspector } from '../src/inspect/sanitize.js';
import { drawMachine } from '../src/inspect/offline-inspector.js';
import { createSolveLogic, type SolveLogic, type SolveLogicInput, type SolveLogicOutput } from '../src/client/solve-logic.js';
import { API_KEY, SESSION, fakeNova, hang, requestLines, type FakeNovaOptions, type Handler } from './helpers/fake-nova.js';

const API = 'http://127.0.0.1:9/api/';
const polling = { minIntervalMs: 0, maxIntervalMs: 2 };

function clientOn(transport: ReturnType<typeof fakeNova>) {
  return new Client({ apiKey: API_KEY, apiUrl: API, transport, polling });
}

/** A user's app: `solving` invokes the library's logic, `showing` keeps its output, `failed` its error. */
function appMachine(solve: SolveLogic, input: SolveLogicInput) {
  return setup({
    types: {
      context: {} as { output: SolveLogicOutput | null; error: AstrometryNetError | null },
    },
    actors: { solve },
  }).createMachine({
    id: 'app',
    context: { output: null, error: null },
    initial: 'solving',
    states: {
      solving: {
        invoke: {
          id: 'solve',
          src: 'solve',
          input,
          onDone: { target: 'showing', actions: assign({ output: ({ event }) => event.output }) },
          onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error as AstrometryNetError }) },
        },
        on: { STOP: { actions: sendTo('solve', { type: 'CANCEL', reason: 'stopped' }) } },
      },
      showing: { type: 'final' },
      failed: { type: 'final' },
    },
  });
}

async function run(options: FakeNovaOptions, input: SolveLogicInput, overrides: Record<string, Handler> = {}) {
  const transport = fakeNova(options, overrides);
  const client = clientOn(transport);
  const actor = createActor(appMachine(createSolveLogic(client), input));
  actor.start();
  await toPromise(actor);
  return { snapshot: actor.getSnapshot(), lines: lines(transport.requests), transport };
}

/** `METHOD path` of each request (the long-poll query left out). */
const lines = (requests: Parameters<typeof requestLines>[0]) => requestLines(requests).map((l) => l.replace(/\?.*$/, ''));

/** Resolves once the solve machine the parent's child invoked has a snapshot that satisfies `predicate`. */
function untilChild(parent: AnyActorRef, predicate: (s: { value: unknown; context: { jobId: number | null } }) => boolean): Promise<void> {
  const child = (parent.getSnapshot().children.solve as AnyActorRef).getSnapshot().children.solve as AnyActorRef;
  return new Promise((resolve) => {
    const check = (s: unknown) => predicate(s as never) && (sub?.unsubscribe(), resolve(), true);
    let sub: { unsubscribe(): void } | undefined;
    if (check(child.getSnapshot())) return;
    sub = child.subscribe(check);
  });
}

describe('createSolveLogic(client) in a parent machine', () => {
  test("starts by itself and hands onDone the subid, job id, calibration and prefetched files, in the fewest requests", async () => {
    const bytes = new Uint8Array([1, 2, 3, 4]);
    const { snapshot, lines } = await run({ pendingSubmissionPolls: 1 }, { input: { bytes, filename: 'm42.fits' }, prefetch: ['wcs', 'info'] });
    expect(snapshot.value).toBe('showing');
    const output = snapshot.context.output as SolveLogicOutput;
    expect(output).toMatchObject({ subid: 101, jobId: 202, hash: 'a'.repeat(40), calibration: { ra: 187, dec: 56.7 }, resultErrors: {} });
    expect(output.files.wcs?.bytes.byteLength).toBe(2880);
    expect(output.results.info?.original_filename).toBe('x.png');
    expect(lines).toEqual([
      'POST /api/login',
      'POST /api/upload',
      'GET /api/submissions/101',
      'GET /api/submissions/101',
      'GET /api/jobs/202',
      'GET /api/jobs/202/calibration',
      'GET /wcs_file/202',
      'GET /api/jobs/202/info',
    ]);
  });

  test("a failed job reaches onError as a typed, serialisable error with the subid and job id", async () => {
    const { snapshot } = await run({ finalStatus: 'failure' }, { input: { url: 'https://example.org/m42.jpg' } });
    expect(snapshot.value).toBe('failed');
    const error = snapshot.context.error;
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error).toMatchObject({ code: 'job_failed', subid: 101, jobId: 202 });
    expect(JSON.parse(JSON.stringify(error)) as SerializedError).toMatchObject({ name: 'JobFailedError', code: 'job_failed', subid: 101, jobId: 202 });
  });

  test('a cancel sent by the parent ends in onError with code aborted and where the solve stood', async () => {
    const transport = fakeNova({}, { job: hang() });
    const client = clientOn(transport);
    const actor = createActor(appMachine(createSolveLogic(client), { input: 'https://example.org/m42.jpg' }));
    actor.start();
    await untilChild(actor, (s) => s.context.jobId !== null);
    actor.send({ type: 'STOP' });
    await toPromise(actor);
    expect(actor.getSnapshot().context.error).toBeInstanceOf(AbortedError);
    expect(actor.getSnapshot().context.error).toMatchObject({ code: 'aborted', subid: 101, jobId: 202 });
  });

  test.each([
    ['a bad option', { input: 'https://example.org/m42.jpg', options: { scaleUnits: 'parsecs' } }, 'scaleUnits'],
    ['a bad input', { input: 42 }, 'input'],
    ['an unreadable path', { input: { file: '/nonexistent/m42.fits' } }, 'file'],
    ['an unknown prefetch kind', { input: 'https://example.org/m42.jpg', prefetch: ['wcss'] }, 'prefetch'],
    ['a bad timeout', { input: 'https://example.org/m42.jpg', timeoutMs: -5 }, 'timeoutMs'],
    ['a bad job id', { jobId: 0 }, 'jobId'],
  ])('%s reaches onError as a ValidationError before any request', async (_name, input, option) => {
    const { snapshot, lines } = await run({}, input as unknown as SolveLogicInput);
    expect(snapshot.value).toBe('failed');
    expect(snapshot.context.error).toBeInstanceOf(ValidationError);
    if (option !== 'file') expect((snapshot.context.error as ValidationError).option).toBe(option);
    expect(lines).toEqual([]);
  });

  test("a parent that leaves the solving state mid-upload stops the child, aborts the upload and frees the input's bytes", async () => {
    let aborted = false;
    const transport = fakeNova({}, { upload: hang((req) => req.signal?.addEventListener('abort', () => (aborted = true))) });
    const client = clientOn(transport);
    const machine = setup({ actors: { solve: createSolveLogic(client) } }).createMachine({
      initial: 'solving',
      states: {
        solving: { invoke: { id: 'solve', src: 'solve', input: { input: { bytes: new Uint8Array(64) } } }, on: { BACK: 'picking' } },
        picking: {},
      },
    });
    const actor = createActor(machine).start();
    await untilChild(actor, (s) => s.value === 'uploading');
    await new Promise((r) => setTimeout(r, 5));
    expect(client.session.memory.size).toBe(1);
    actor.send({ type: 'BACK' });
    expect(actor.getSnapshot().children.solve).toBeUndefined();
    expect(aborted).toBe(true);
    expect(client.session.memory.size).toBe(0);
  });

  test('resumes by job id without uploading: one job poll and the calibration', async () => {
    const { snapshot, lines } = await run({}, { jobId: 202 });
    expect(snapshot.context.output).toMatchObject({ subid: null, jobId: 202, calibration: { ra: 187 } });
    expect(lines).toEqual(['GET /api/jobs/202', 'GET /api/jobs/202/calibration']);
  });

  test('resumes a persisted StartedSolve (from client.submit) without uploading', async () => {
    const first = fakeNova({}, { submission: hang() });
    const submission = clientOn(first).submit('https://example.org/m42.jpg');
    await submission.handle.until((s) => s.matches({ submissionPending: 'reading' }));
    const persisted = JSON.parse(JSON.stringify(submission.persist()));
    submission.cancel();

    const { snapshot, lines } = await run({}, { resume: persisted });
    expect(snapshot.context.output).toMatchObject({ subid: 101, jobId: 202 });
    expect(lines).toEqual(['GET /api/submissions/101', 'GET /api/jobs/202', 'GET /api/jobs/202/calibration']);
  });

  test('a persisted solve that was mid-upload is not sent again: onError gets upload_interrupted, before any request', async () => {
    const first = fakeNova({}, { upload: hang() });
    const submission = clientOn(first).submit('https://example.org/m42.jpg');
    await submission.handle.until((s) => s.matches('uploading'));
    const persisted = JSON.parse(JSON.stringify(submission.persist()));
    submission.cancel();

    const { snapshot, lines } = await run({}, { resume: persisted });
    expect(snapshot.context.error).toMatchObject({ code: 'upload_interrupted' });
    expect(lines).toEqual([]);
  });

  test("a parent snapshot persisted mid-solve holds a reference to in-memory bytes, and restored with a new client never uploads again", async () => {
    const bytes = new TextEncoder().encode('IMAGE-BYTES-'.repeat(50));
    const first = fakeNova({}, { job: hang() });
    const clientA = clientOn(first);
    const input: SolveLogicInput = { input: { bytes, filename: 'm42.fits' }, prefetch: ['wcs'] };
    const actorA = createActor(appMachine(createSolveLogic(clientA), input));
    actorA.start();
    await untilChild(actorA, (s) => JSON.stringify(s.value) === '{"jobRunning":"reading"}');
    const text = JSON.stringify(actorA.getPersistedSnapshot());
    actorA.stop();
    expect(text).not.toContain('IMAGE-BYTES');
    expect(text).toMatch(/"upload":\{"kind":"memory","ref":"memory-[0-9a-f-]+","filename":"m42.fits","size":600\}/);
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain(SESSION);

    const second = fakeNova();
    const clientB = clientOn(second);
    const actorB = createActor(appMachine(createSolveLogic(clientB), input), { snapshot: JSON.parse(text) });
    actorB.start();
    await toPromise(actorB);
    expect(actorB.getSnapshot().value).toBe('showing');
    expect(actorB.getSnapshot().context.output).toMatchObject({ subid: 101, jobId: 202, calibration: { ra: 187 } });
    expect(actorB.getSnapshot().context.output?.files.wcs?.bytes.byteLength).toBe(2880);
    // Reads need no session: the new client neither logs in nor uploads.
    expect(lines(second.requests)).toEqual(['GET /api/jobs/202', 'GET /api/jobs/202/calibration', 'GET /wcs_file/202']);
    expect(lines(first.requests).filter((l) => l.endsWith('/upload'))).toHaveLength(1);
  });

  test('an inspector sees the parent and the child register and change, and no key or file bytes in any event', async () => {
    const events: InspectionEvent[] = [];
    const transport = fakeNova();
    const client = clientOn(transport);
    const bytes = new TextEncoder().encode(`IMAGE ${API_KEY}`);
    const actor = createActor(appMachine(createSolveLogic(client), { input: { bytes }, prefetch: ['wcs'] }), {
      inspect: sanitizedInspector((e) => events.push(e)),
    });
    actor.start();
    await toPromise(actor);
    expect(actor.getSnapshot().value).toBe('showing');

    const registered = events.filter((e) => e.type === '@xstate.actor').map((e) => e.actorRef as AnyActorRef);
    // The inspector is handed wrapped refs (their snapshots cleaned): actors are told apart by session id.
    const parent = registered.find((ref) => ref.sessionId === actor.sessionId);
    const child = registered.find((ref) => ref.id === 'solve' && ref._parent?.sessionId === actor.sessionId);
    const solve = registered.find((ref) => ref.id === 'solve' && ref._parent?.sessionId === child?.sessionId);
    expect(parent).toBeDefined();
    // Its own machine id, and the solve machine's inside it: an inspector drawing machines by id tells them apart.
    expect((child as unknown as { logic: { id: string } }).logic.id).toBe('childSolve');
    expect((solve as unknown as { logic: { id: string } }).logic.id).toBe('solve');
    const snapshotsOf = (ref: AnyActorRef | undefined) =>
      events.filter((e): e is InspectedSnapshotEvent => e.type === '@xstate.snapshot' && e.actorRef.sessionId === ref?.sessionId);
    const statesOf = (ref: AnyActorRef | undefined) => snapshotsOf(ref).map((e) => JSON.stringify((e.snapshot as unknown as { value: unknown }).value));
    expect(statesOf(parent)).toContain('"showing"');
    expect(statesOf(child)).toContain('"solved"');
    for (const state of ['"loggingIn"', '"uploading"', '{"success":"ready"}']) expect(statesOf(solve)).toContain(state);

    const text = JSON.stringify(
      events.map((e) => {
        const { actorRef: _a, sourceRef: _s, ...rest } = e as InspectionEvent & { sourceRef?: unknown };
        return rest;
      }),
    );
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain(SESSION);
    expect(text).not.toContain('IMAGE');
    expect(text).toMatch(/\[2880 bytes\]/);
  });

  test('its chart invokes the solve machine itself (bound to the client) and ends in a final state', () => {
    const client = clientOn(fakeNova());
    const logic = createSolveLogic(client);
    const drawing = drawMachine(logic);
    expect(drawing.states.map((s) => s.key)).toEqual(['solving', 'solved']);
    expect(drawing.states.find((s) => s.key === 'solved')?.type).toBe('final');
    expect(logic.implementations.actors.solve).toBe(client.session.machine);
    expect(logic.root.states.solving?.invoke.map((i) => i.src)).toEqual(['solve']);
  });

  test('restored after its deadline passed, a solve takes a fresh deadline and finishes', async () => {
    const first = fakeNova({}, { job: hang() });
    const input: SolveLogicInput = { jobId: 202, timeoutMs: 300 };
    const actorA = createActor(appMachine(createSolveLogic(clientOn(first)), input));
    actorA.start();
    await untilChild(actorA, (s) => JSON.stringify(s.value) === '{"jobRunning":"reading"}');
    const text = JSON.stringify(actorA.getPersistedSnapshot());
    actorA.stop();
    await new Promise((r) => setTimeout(r, 400));

    const second = fakeNova();
    const actorB = createActor(appMachine(createSolveLogic(clientOn(second)), input), { snapshot: JSON.parse(text) });
    actorB.start();
    await toPromise(actorB);
    expect(actorB.getSnapshot().value).toBe('showing');
    expect(lines(second.requests)).toEqual(['GET /api/jobs/202', 'GET /api/jobs/202/calibration']);
  });

  test('its types are the public ones: a parent sees SolveLogicInput and SolveLogicOutput', () => {
    expectTypeOf<InputFrom<SolveLogic>>().toEqualTypeOf<SolveLogicInput>();
    expectTypeOf<OutputFrom<SolveLogic>>().toEqualTypeOf<SolveLogicOutput>();
    expectTypeOf<ReturnType<typeof createSolveLogic>>().toEqualTypeOf<SolveLogic>();
  });

  test('created at top level it runs too, and its output is what toPromise resolves with', async () => {
    const transport = fakeNova();
    const client = clientOn(transport);
    const actor = createActor(createSolveLogic(client), { input: { jobId: 202 } });
    actor.start();
    await expect(toPromise(actor)).resolves.toMatchObject({ jobId: 202, calibration: { ra: 187 } });
  });
});
