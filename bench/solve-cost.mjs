#!/usr/bin/env node
// The client's CPU per solve against its floor: a bare undici script that makes the same
// requests to the same server, measured in the same run. Each side runs in a fresh process of
// its own; the server (`astrometry-net-server`, simulated solver) runs in a third.
//
// The requests of one solve, as the client sends them to a server that holds reads: the upload
// (multipart, exact Content-Length), the submission read held until a job appears, the job read
// held until it ends, the calibration. One login per process.
//
// Rows:
//   batch       N solves, 16 in flight (solveMany against Promise.all over a pool)
//   sequential  N solves one after another (solve() in a loop against await in a loop)
//   held        16 solves held in a status read for HOLD_S seconds: CPU per second spent while
//               they wait (from 3 s after they start, once all sit in held reads)
//   fresh       one solve in a new process, import and start-up included (the CLI's common case)
//
// Batch and sequential also run a third script: the bare one with each request invoked by a state
// of a four-state xstate chart, the least an actor per request can cost (the design's floor).
//
//   npm run build && node bench/solve-cost.mjs
//   BATCH=2000 SEQUENTIAL=100 HOLD_S=60 REPS=3 node bench/solve-cost.mjs   # the defaults
//   CPU_PROF=1 node bench/solve-cost.mjs                             # .cpuprofile per process in bench-profiles/
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const API_KEY = 'benchsolvecostxx';
const IN_FLIGHT = 16;
/** Held: seconds the solves get to reach their held reads before the CPU is measured. */
const HELD_SETTLE_S = 3;

const [mode, ...args] = process.argv.slice(2);
if (mode === '--server') await serverMain(Number(args[0]));
else if (mode === '--client') await clientMain(...args);
else if (mode === '--bare') await bareMain(...args);
else if (mode === '--bare-chart') await bareMain(...args, { chart: true });
else await main();

/** The server: simulated solver; `solveMs` sets how long a job solves (the held row uses 60 s and more). */
async function serverMain(solveMs) {
  const { startServer } = await import('astrometry-net-server');
  const server = await startServer({
    port: 0,
    apiKeys: [API_KEY],
    solver: 'simulated',
    concurrency: 64,
    simulated: { ingestMs: 20, queueMs: 0, solveMs },
  });
  process.stdout.write(`${server.url}\n`);
  process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
}

function report(extra) {
  const cpu = process.cpuUsage();
  const status = readFileSync('/proc/self/status', 'utf8');
  const rssMb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024;
  process.stdout.write(JSON.stringify({ ...extra, totalCpuS: (cpu.user + cpu.system) / 1e6, rssMb }) + '\n');
}

/**
 * CPU seconds of the main thread and of every other thread (V8's garbage-collection and compiler
 * helpers, libuv's pool), from /proc (Linux; 10 ms resolution): garbage collected in parallel is
 * paid on the helpers, so this is where an allocation-heavy client pays more than `cpuUsage`'s
 * main share suggests. Zeros where /proc is missing.
 */
function threadCpu() {
  const ticks = 100; // USER_HZ
  const out = { main: 0, other: 0 };
  let tids = [];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / ticks;
      if (Number(tid) === process.pid) out.main += seconds;
      else out.other += seconds;
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** Runs `work` after one warm-up solve, and reports the CPU it took (warm-up excluded). */
/**
 * Held: the CPU of the waiting alone. The solves are started, given HELD_SETTLE_S to reach their
 * held job reads (login, upload, submission), then the CPU is measured over the rest of the hold
 * but the last seconds, and the process leaves without waiting for the jobs.
 */
async function measuredWhileHeld(work) {
  const holdS = Number(process.env.HOLD_S ?? 60);
  void work();
  await new Promise((r) => setTimeout(r, HELD_SETTLE_S * 1000));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, (holdS - HELD_SETTLE_S - 2) * 1000));
  const cpu = process.cpuUsage(cpu0);
  report({ row: 'held', n: IN_FLIGHT, ms: performance.now() - t0, cpuS: (cpu.user + cpu.system) / 1e6 });
  process.exit(0);
}
async function measured(row, n, warmUp, work) {
  if (row === 'held') return measuredWhileHeld(work);
  // One solve first (its login, the first compile), except where the start is what is measured
  // (fresh) or a solve takes a minute (held).
  if (row !== 'fresh') await warmUp();
  const threads0 = threadCpu();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const cpu = process.cpuUsage(cpu0);
  const threads1 = threadCpu();
  const threads = row === 'fresh' ? threads1 : { main: threads1.main - threads0.main, other: threads1.other - threads0.other };
  report({ row, n, ms: performance.now() - t0, cpuS: (cpu.user + cpu.system) / 1e6, mainS: threads.main, otherS: threads.other });
}

async function clientMain(row, apiUrl, file, nText) {
  const n = Number(nText);
  const { Client } = await import('../dist/src/index.js');
  const client = new Client({ apiUrl, apiKey: API_KEY, polling: { minIntervalMs: 0 }, timeoutMs: 10 * 60_000 });
  const one = async () => {
    const result = await client.solve(file);
    if (!result.calibration) throw new Error('no calibration');
  };
  await measured(row, n, one, async () => {
    if (row === 'batch' || row === 'held') {
      let failed = 0;
      for await (const o of client.solveMany(Array.from({ length: n }, () => file), { concurrency: IN_FLIGHT })) if (o.error) failed++;
      if (failed) throw new Error(`${failed} failed`);
    } else {
      for (let i = 0; i < n; i++) await one();
    }
  });
}

/**
 * The floor: the same requests with undici alone, the multipart body written by hand.
 * With `chart`, the same script with each of its four requests invoked by a state of the least
 * chart xstate allows (no context but the ids, no guard, no retry, no deadline): what an actor
 * per request costs on its own, whatever else a client does.
 */
async function bareMain(row, apiUrl, file, nText, { chart = false } = {}) {
  const n = Number(nText);
  const { Agent, request } = await import('undici');
  const dispatcher = new Agent();
  const json = async (method, path, body, headers = {}) => {
    const r = await request(new URL(path, apiUrl), { method, body, headers, dispatcher });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`${path}: ${r.statusCode} ${text.slice(0, 100)}`);
    return JSON.parse(text);
  };
  const form = (fields) => new URLSearchParams(fields).toString();
  const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };
  const login = await json('POST', 'login', form({ 'request-json': JSON.stringify({ apikey: API_KEY }) }), formHeaders);
  const session = login.session;
  const upload = async () => {
    const bytes = readFileSync(file);
    const boundary = `----bare${Math.random().toString(16).slice(2)}`;
    const requestJson = JSON.stringify({ session, publicly_visible: 'n', allow_commercial_use: 'd', allow_modifications: 'd' });
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="request-json"\r\n\r\n${requestJson}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="small.png"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    const body = Buffer.concat([head, bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]);
    return json('POST', 'upload', body, { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(body.length) });
  };
  const jobOf = async (subid) => {
    let sub = await json('GET', `submissions/${subid}?wait=600&until=job`);
    while (!sub.jobs?.[0]) sub = await json('GET', `submissions/${subid}?wait=600&until=job`);
    return sub.jobs[0];
  };
  const untilDone = async (jobId) => {
    let job = await json('GET', `jobs/${jobId}?wait=600&until=done`);
    while (job.status !== 'success' && job.status !== 'failure') job = await json('GET', `jobs/${jobId}?wait=600&until=done`);
  };
  const calibration = async (jobId) => {
    const cal = await json('GET', `jobs/${jobId}/calibration`);
    if (typeof cal.ra !== 'number') throw new Error('no calibration');
  };
  const one = chart
    ? await chartedSolve({ upload, jobOf, untilDone, calibration })
    : async () => {
        const { subid } = await upload();
        const jobId = await jobOf(subid);
        await untilDone(jobId);
        await calibration(jobId);
      };
  await measured(row, n, one, async () => {
    if (row === 'batch' || row === 'held') {
      let next = 0;
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (next < n) {
          next++;
          await one();
        }
      }));
    } else {
      for (let i = 0; i < n; i++) await one();
    }
  });
  await dispatcher.close();
}

/** The bare requests, each invoked by entering a state of a four-state chart: one solve per actor. */
async function chartedSolve(requests) {
  const { assign, createActor, fromPromise, setup } = await import('xstate');
  const machine = setup({
    actors: {
      upload: fromPromise(() => requests.upload()),
      jobOf: fromPromise(({ input }) => requests.jobOf(input.subid)),
      untilDone: fromPromise(({ input }) => requests.untilDone(input.jobId)),
      calibration: fromPromise(({ input }) => requests.calibration(input.jobId)),
    },
  }).createMachine({
    context: { subid: null, jobId: null },
    initial: 'uploading',
    states: {
      uploading: { invoke: { src: 'upload', onDone: { target: 'submissionPending', actions: assign({ subid: ({ event }) => event.output.subid }) } } },
      submissionPending: { invoke: { src: 'jobOf', input: ({ context }) => context, onDone: { target: 'jobRunning', actions: assign({ jobId: ({ event }) => event.output }) } } },
      jobRunning: { invoke: { src: 'untilDone', input: ({ context }) => context, onDone: 'fetchingResults' } },
      fetchingResults: { invoke: { src: 'calibration', input: ({ context }) => context, onDone: 'success' } },
      success: { type: 'final' },
    },
  });
  return () =>
    new Promise((resolve, reject) => {
      const actor = createActor(machine);
      actor.subscribe({ complete: resolve, error: reject });
      actor.start();
    });
}

/** fresh: the whole process (import, start-up, one solve); the others: the measured work (held: the wait). */
function cpuOf(row, r) {
  return row === 'fresh' ? r.totalCpuS : r.cpuS;
}

function spawnJson(args) {
  const prof = process.env.CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(here, '..', 'bench-profiles')}`] : [];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...prof, fileURLToPath(import.meta.url), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (c) => (text += c));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text.trim().split('\n').pop())) : reject(new Error(`${args[0]} ${args[1]} exited ${code}`))));
  });
}

async function startServer(solveMs) {
  const server = spawn(process.execPath, [fileURLToPath(import.meta.url), '--server', String(solveMs)], { stdio: ['ignore', 'pipe', 'ignore'] });
  const url = await new Promise((resolve, reject) => {
    let text = '';
    server.stdout.on('data', (chunk) => {
      text += chunk;
      const m = /(http:\/\/127\.0\.0\.1:\d+\/api\/)/.exec(text);
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  server.stdout.resume();
  return { url, stop: () => new Promise((r) => (server.once('exit', r), server.kill('SIGTERM'))) };
}

async function main() {
  const batch = Number(process.env.BATCH ?? 2000);
  const sequential = Number(process.env.SEQUENTIAL ?? 100);
  const holdS = Number(process.env.HOLD_S ?? 60);
  const reps = Number(process.env.REPS ?? 3);
  const dir = await mkdtemp(join(tmpdir(), 'anc-bench-cost-'));
  const file = join(dir, 'small.png');
  await writeFile(file, await readFile(join(here, '..', 'test', 'fixtures', 'small.png')));
  const rows = [];
  try {
    // One server for the solving rows; the same server for client and floor, one after the other.
    const fast = await startServer(20);
    try {
      // Each row REPS times, client and floor in turn; the run with the median CPU of each is shown
      // (one run of a few seconds moves by 10-20 % with what else the machine does).
      for (const [row, n] of [['batch', batch], ['sequential', sequential], ['fresh', 1]]) {
        const clients = [];
        const bares = [];
        const charts = [];
        for (let rep = 0; rep < reps; rep++) {
          clients.push(await spawnJson(['--client', row, fast.url, file, String(n)]));
          bares.push(await spawnJson(['--bare', row, fast.url, file, String(n)]));
          if (row !== 'fresh') charts.push(await spawnJson(['--bare-chart', row, fast.url, file, String(n)]));
        }
        const median = (list) => list.sort((a, b) => cpuOf(row, a) - cpuOf(row, b))[Math.floor(list.length / 2)];
        rows.push({ row, n, client: median(clients), bare: median(bares), chart: charts.length ? median(charts) : undefined });
      }
    } finally {
      await fast.stop();
    }
    // Held: 16 solves whose jobs take HOLD_S seconds, so each sits in a held job read (HOLD_S=0: skipped).
    const slow = holdS > 0 ? await startServer(holdS * 1000) : undefined;
    if (slow) try {
      const client = await spawnJson(['--client', 'held', slow.url, file, String(IN_FLIGHT)]);
      const bare = await spawnJson(['--bare', 'held', slow.url, file, String(IN_FLIGHT)]);
      rows.push({ row: 'held', n: IN_FLIGHT, client, bare });
    } finally {
      await slow.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`\nClient CPU per solve against a bare undici script making the same requests (server: simulated solver, its own process)`);
  console.log('| row | solves | client CPU | bare undici CPU | ratio | client main + other threads | bare main + other threads | client wall | client peak RSS | bare peak RSS |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const { row, n, client, bare } of rows) {
    // CPU seconds in the row's unit: per second held, per process, or per solve.
    const inUnit = (r, seconds) =>
      row === 'held' ? `${((seconds / (r.ms / 1000)) * 1000).toFixed(2)} ms/s` : row === 'fresh' ? `${(seconds * 1000).toFixed(0)} ms` : `${((seconds / n) * 1000).toFixed(3)} ms/solve`;
    const unit = (r) => inUnit(r, cpuOf(row, r));
    const ratio = cpuOf(row, client) / cpuOf(row, bare);
    const split = (r) => (r.mainS === undefined ? '–' : `${inUnit(r, r.mainS).split(' ')[0]} + ${inUnit(r, r.otherS).split(' ')[0]}`);
    console.log(
      `| ${row} | ${n} | ${unit(client)} | ${unit(bare)} | ${ratio.toFixed(2)} | ${split(client)} | ${split(bare)} | ${(client.ms / 1000).toFixed(1)} s | ${client.rssMb.toFixed(0)} MB | ${bare.rssMb.toFixed(0)} MB |`,
    );
  }
  console.log('Main + other threads: the same CPU on the main thread and on the others (V8\'s garbage-collection and compiler helpers), from /proc in 10 ms steps.');
  console.log(`\nThe design's own floor: the bare script with each of its four requests invoked by a state of a four-state xstate chart (nothing else)`);
  console.log('| row | solves | bare undici in a chart | ratio to bare undici | client\'s ratio to it | main + other threads |');
  console.log('|---|---|---|---|---|---|');
  for (const { row, n, client, bare, chart } of rows) {
    if (!chart) continue;
    const perSolve = (seconds) => ((seconds / n) * 1000).toFixed(3);
    console.log(
      `| ${row} | ${n} | ${perSolve(chart.cpuS)} ms/solve | ${(chart.cpuS / bare.cpuS).toFixed(2)} | ${(client.cpuS / chart.cpuS).toFixed(2)} | ${perSolve(chart.mainS)} + ${perSolve(chart.otherS)} |`,
    );
  }
  console.log('Goals (issue 18): batch and sequential ratios at most 1.5; fresh at most 1.5; held: no CPU while waiting.');
}
