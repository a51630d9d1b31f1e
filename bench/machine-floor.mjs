#!/usr/bin/env node
// The statechart's own CPU per solve: the solve machine (and the batch machine over it) with
// every request answered at once by a task that does no I/O. What remains is xstate and the
// chart's guards and actions: the floor of a client built as this statechart, to add to the
// bare transport's floor (bench/solve-cost.mjs) when judging how close the client can get.
//
// Beside it, xstate's own floor: a chart with nothing but the same actors and steps (four states,
// each invoking a promise that resolves at once), so the chart's own share can be told from
// xstate's. And the memory each solve allocates (what the garbage collector then has to clear),
// from V8's sampling heap profiler in a second pass, so that it does not weigh on the CPU figures.
//
//   npm run build && node bench/machine-floor.mjs            # N=2000
import { Session } from 'node:inspector/promises';
import { createActor, fromPromise, setup } from 'xstate';

const N = Number(process.env.N ?? 2000);
const { createSolveMachine } = await import('../dist/machines/solve.machine.js');
const { driveBatch } = await import('../dist/src/client/batch-driver.js');
const { defaultPollSchedule } = await import('../dist/src/tasks/polling.js');

const hold = { token: 't', seconds: 600 };
const calibration = { ra: 83.8, dec: -5.4, radius: 0.5, pixscale: 2, orientation: 0, parity: 1 };
const instant = (value) => fromPromise(async () => value);
const tasks = {
  actors: {
    login: instant(undefined),
    upload: instant({ subid: 101, hash: null }),
    readSubmission: instant({ value: { jobs: [202], job_calibrations: [], user_images: [], processing_started: null, processing_finished: null }, hold }),
    readJob: instant({ value: 'success', hold }),
    readCalibration: instant(calibration),
    waitForNextPoll: instant(undefined),
  },
  guards: { hasSession: () => true },
};
const machine = createSolveMachine(() => Date.now()).provide(tasks);
/** xstate alone: four states, each invoking a promise that resolves at once, then a final state. */
const bareChart = setup({ actors: { request: instant(undefined) } }).createMachine({
  initial: 'upload',
  states: {
    upload: { invoke: { src: 'request', onDone: 'submission' } },
    submission: { invoke: { src: 'request', onDone: 'job' } },
    job: { invoke: { src: 'request', onDone: 'calibration' } },
    calibration: { invoke: { src: 'request', onDone: 'done' } },
    done: { type: 'final' },
  },
});
function oneBareChart() {
  return new Promise((resolve) => {
    const actor = createActor(bareChart);
    actor.subscribe({ complete: resolve });
    actor.start();
  });
}
// A batch's children end once settled: the batch hears of each from its done event.
const endingMachine = createSolveMachine(() => Date.now(), { endsWhenSettled: true }).provide(tasks);
const input = { upload: { kind: 'file', path: 'x.png', filename: 'x.png' }, options: {}, schedule: { ...defaultPollSchedule('http://127.0.0.1/api/'), minIntervalMs: 0 }, timeoutMs: 60_000 };

/** One solve as `client.solve` drives it: start, wait for the settled snapshot. */
function oneSolve() {
  const actor = createActor(machine, { input });
  const settled = new Promise((resolve, reject) => {
    const sub = actor.subscribe({ next: (s) => s.hasTag('settled') && !s.hasTag('fetching') && (sub.unsubscribe(), resolve(s)), error: reject });
  });
  actor.start();
  actor.send({ type: 'START' });
  return settled.then((s) => {
    if (s.context.error) throw new Error(s.context.error.message);
    actor.stop();
  });
}

async function cpuOf(work) {
  await work(300); // warm-up: the code is compiled and optimized before it is measured
  const t0 = process.cpuUsage();
  await work(N);
  const t = process.cpuUsage(t0);
  return ((t.user + t.system) / 1000 / N).toFixed(3);
}

/** KB allocated per solve (objects collected since included), from V8's sampling heap profiler. */
async function allocatedOf(work) {
  const n = Math.min(N, 1000);
  await work(50);
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
  await work(n);
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  let bytes = 0;
  const walk = (node) => {
    bytes += node.selfSize;
    node.children.forEach(walk);
  };
  walk(profile.head);
  return (bytes / 1024 / n).toFixed(0);
}

const sixteenAtATime = (one) => async (n) => {
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < n) {
      next++;
      await one();
    }
  }));
};
const sequential = await cpuOf(async (n) => {
  for (let i = 0; i < n; i++) await oneSolve();
});
const xstateAlone = sixteenAtATime(oneBareChart);
const solveMachines = sixteenAtATime(oneSolve);
const batchOf = async (n) => {
  const run = driveBatch({ items: Array.from({ length: n }, (_, i) => ({ id: String(i), input })), concurrency: 16, solve: endingMachine });
  await run.done;
};
const bareChartCpu = await cpuOf(xstateAlone);
const inFlight = await cpuOf(solveMachines);
const batch = await cpuOf(batchOf);
// The whole client on a transport that answers from memory: the statechart, the tasks, the
// protocol's encoding and decoding, and the facade (`solveMany`), without a socket.
const { Client } = await import('../dist/src/index.js');
const encoder = new TextEncoder();
let subid = 100;
const answer = (value, headers = {}) => ({ status: 200, headers: { 'content-type': 'application/json', ...headers }, body: encoder.encode(JSON.stringify(value)) });
const inMemory = {
  async request(req) {
    const path = new URL(req.url).pathname;
    if (path.endsWith('/login')) return answer({ status: 'success', message: 'authenticated user: bench', session: 'benchsession' });
    if (path.endsWith('/upload')) return answer({ status: 'success', subid: ++subid, hash: 'abc' });
    let m = /submissions\/(\d+)/.exec(path);
    if (m) return answer({ processing_started: '2024-01-01 00:00:00.000000', processing_finished: 'None', user: 1, user_images: [1], images: [1], jobs: [Number(m[1]) + 1000], job_calibrations: [] }, { 'x-long-poll': '600', 'x-state': 's1' });
    if (/jobs\/\d+\/calibration/.test(path)) return answer(calibration);
    if (/jobs\/\d+/.test(path)) return answer({ status: 'success' }, { 'x-long-poll': '600', 'x-state': 'j1' });
    throw new Error(`unexpected request ${path}`);
  },
};
const client = new Client({ apiUrl: 'http://127.0.0.1:9/api/', apiKey: 'benchmachinefloor', polling: { minIntervalMs: 0 }, transport: inMemory });
const png = new URL('../test/fixtures/small.png', import.meta.url).pathname;
const clientBatch = async (n) => {
  for await (const o of client.solveMany(Array.from({ length: n }, () => png), { concurrency: 16 })) if (o.error) throw o.error;
};
const wholeClient = await cpuOf(clientBatch);
const wholeClientSequential = await cpuOf(async (n) => {
  for (let i = 0; i < n; i++) await client.solve(png);
});

// One after another with a pause before each answer, as a server's answer comes after a wait:
// what waking up costs the client, over the pauses' own cost (the same sleeps, nothing else).
const PAUSE_MS = 10;
const paused = Math.min(N, 200);
const pausing = new Client({
  apiUrl: 'http://127.0.0.1:9/api/',
  apiKey: 'benchmachinefloor',
  polling: { minIntervalMs: 0 },
  transport: { request: (req) => new Promise((r) => setTimeout(r, PAUSE_MS)).then(() => inMemory.request(req)) },
});
for (let i = 0; i < 20; i++) await pausing.solve(png);
const p0 = process.cpuUsage();
for (let i = 0; i < paused; i++) await pausing.solve(png);
const p1 = process.cpuUsage(p0);
const s0 = process.cpuUsage();
for (let i = 0; i < paused * 4; i++) await new Promise((r) => setTimeout(r, PAUSE_MS));
const s1 = process.cpuUsage(s0);
const pausedCpu = ((p1.user + p1.system - (s1.user + s1.system)) / 1000 / paused).toFixed(3);

const allocated = {
  xstate: await allocatedOf(xstateAlone),
  solve: await allocatedOf(solveMachines),
  batch: await allocatedOf(batchOf),
  client: await allocatedOf(clientBatch),
};

console.log(`\nThe statechart alone, every request answered at once with no I/O (${N} solves)`);
console.log('| how | CPU per solve | allocated per solve |');
console.log('|---|---|---|');
console.log(`| xstate alone: four states each invoking a promise resolved at once, 16 at a time | ${bareChartCpu} ms | ${allocated.xstate} KB |`);
console.log(`| solve machine, 16 at a time | ${inFlight} ms | ${allocated.solve} KB |`);
console.log(`| batch machine over solve machines, 16 at a time | ${batch} ms | ${allocated.batch} KB |`);
console.log(`| the whole client (solveMany, tasks, protocol) on a transport answering from memory, 16 at a time | ${wholeClient} ms | ${allocated.client} KB |`);
console.log(`| solve machine, one after another | ${sequential} ms | |`);
console.log(`| the whole client, one after another (client.solve) | ${wholeClientSequential} ms | |`);
console.log(`| the same, each answer after a ${PAUSE_MS} ms pause (the pauses' own CPU taken off; ${paused} solves) | ${pausedCpu} ms | |`);

