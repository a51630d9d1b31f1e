#!/usr/bin/env node
// Polling cost and detection lag, per solve phase: job-status requests and the time between the
// job ending and the client knowing, for jobs that take L seconds once their id is known.
//
// Other clients' figures are computed from their published schedules, not run:
//   - the official client.py: a fixed 5 s sleep between job polls (net/client/client.py);
//   - astroquery's AstrometryNet: a 1 s sleep between polls;
//   - the Python astrometry_net_client: Statusable.until_done, a 4 s sleep doubled after each
//     poll, capped at 300 s.
// This client's nova figures come from its own schedule function (src/polling.ts), jitter off
// (jitter only shortens waits). Each model polls at t = 0, when the job id is known, and
// ignores request time. "serve (long poll)" is measured: real solves through
// `astrometry-net serve --solver simulated` with the solve taking L seconds.
//
//   npm run build && node bench/polling.mjs               # L = 10, 30, 120 s on serve (about 2 min)
//   BENCH_LONG=1 node bench/polling.mjs                   # adds L = 600 s on serve (10 min)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPollSchedule, pollDelay } from '../dist/src/tasks/polling.js';

const LENGTHS = [10, 30, 120, 600];

/** Polls at t = 0 and then as `next` says, until one at or after the end: requests and lag. */
function once(end, next) {
  const times = [0];
  while (times[times.length - 1] < end) times.push(next(times[times.length - 1], times.length));
  return { requests: times.length, lag: times[times.length - 1] - end };
}

/**
 * The worst case over jobs ending anywhere in [L, L + 5 s): a job ending exactly on a poll
 * would flatter a fixed 5 s schedule with zero lag.
 */
function count(L, next) {
  let worst = { requests: 0, lag: 0 };
  for (let u = 0; u < 5; u += 0.05) {
    const r = once(L + u, next);
    worst = { requests: Math.max(worst.requests, r.requests), lag: Math.max(worst.lag, r.lag) };
  }
  return worst;
}

const nova = { ...defaultPollSchedule('https://nova.astrometry.net/api/'), jitter: 0 };
const models = {
  'this client (nova, 5 s floor)': (t) => t + pollDelay(nova, t * 1000, 0) / 1000,
  'client.py (fixed 5 s)': (t) => t + 5,
  'astroquery (1 s)': (t) => t + 1,
  'astrometry_net_client (4 s doubling)': (t, n) => t + Math.min(4 * 2 ** (n - 1), 300),
};

const cell = ({ requests, lag }) => `${requests} / ${lag.toFixed(1)} s`;
const rows = Object.entries(models).map(([name, next]) => [name, ...LENGTHS.map((L) => cell(count(L, next)))]);
const goal = LENGTHS.map((L) => `≤ ${count(L, models['client.py (fixed 5 s)']).requests} / ≤ ${Math.max(5, L / 10).toFixed(1)} s`);
rows.push(['goal for this client on nova', ...goal]);

const long = process.env.BENCH_LONG === '1';
const measured = process.env.BENCH_SERVE === "0" ? {} : await measureOnServe(long ? LENGTHS : LENGTHS.slice(0, 3));
const measuredCell = ({ requests, lag }) => `${requests} / ${lag.toFixed(3)} s`;
rows.push(['this client on serve (long poll), measured', ...LENGTHS.map((L) => (measured[L] ? measuredCell(measured[L]) : 'BENCH_LONG=1'))]);

console.log('\nJob-status requests / detection lag (worst case), for a job taking L s (L to L + 5 s) after its id is known');
console.log(`| client | ${LENGTHS.map((L) => `L = ${L} s`).join(' | ')} |`);
console.log(`|---|${LENGTHS.map(() => '---').join('|')}|`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log('Other clients: computed from their published schedules (see the header of this file), not run.');

async function measureOnServe(lengths) {
  const { Client } = await import('../dist/src/index.js');
  const { startServer } = await import('astrometry-net-server');
  const { fileURLToPath } = await import('node:url');
  const image = fileURLToPath(new URL('../test/fixtures/small.png', import.meta.url));
  const out = {};
  await Promise.all(
    lengths.map(async (L) => {
      const dataDir = await mkdtemp(join(tmpdir(), 'anc-bench-poll-'));
      const server = await startServer({ port: 0, solver: 'simulated', dataDir, simulated: { ingestMs: 0, queueMs: 0, solveMs: L * 1000 } });
      try {
        let jobReads = 0;
        let detectedAt = 0;
        const client = new Client({
          apiUrl: server.url,
          apiKey: server.apiKeys[0],
          onRequest: ({ url }) => {
            if (/\/api\/jobs\/\d+(\?|$)/.test(url)) jobReads++;
          },
        });
        const submission = client.submit(image);
        submission.handle.actor.subscribe((s) => {
          if (detectedAt === 0 && s.context.jobStatus === 'success') detectedAt = Date.now();
        });
        const result = await submission.untilDone().then((job) => job.untilDone()).then(() => submission);
        const jobId = result.handle.snapshot.context.jobId;
        await server.close();
        const ended = await jobEndedAt(dataDir, jobId);
        await rm(dataDir, { recursive: true, force: true });
        out[L] = { requests: jobReads, lag: (detectedAt - ended) / 1000 };
      } finally {
        await server.close().catch(() => undefined);
      }
    }),
  );
  return out;
}

/** When the server recorded the job's end (epoch ms), from its database (embedded SQLite). */
async function jobEndedAt(dataDir, jobId) {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(dataDir, 'astrometry-net.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT ended_at FROM jobs WHERE id = ?').get(jobId);
    return Number(row.ended_at) / 1000;
  } finally {
    db.close();
  }
}
