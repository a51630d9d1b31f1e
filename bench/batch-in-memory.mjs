#!/usr/bin/env node
// How the batch machine and the solve machine scale with the number of queued solves, against an
// instant in-memory server: the library's own cost per solve, without sockets or waits.
import { Session } from '../dist/src/index.js';
import { driveBatch } from '../dist/machines/index.js';

const enc = new TextEncoder();
const ok = (value) => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: enc.encode(JSON.stringify(value)) });

/** An instant in-memory nova: the batch's own cost, without sockets or waits. */
function instantNova() {
  let subid = 0;
  let requests = 0;
  return {
    get requests() {
      return requests;
    },
    async request(req) {
      requests++;
      const path = new URL(req.url).pathname;
      if (path.endsWith('/login')) return ok({ status: 'success', message: '', session: 's'.repeat(32) });
      if (path.endsWith('/url_upload')) return ok({ status: 'success', subid: ++subid });
      const sub = /submissions\/(\d+)/.exec(path);
      if (sub) return ok({ processing_started: 'None', processing_finished: 'None', user: 1, user_images: [1], images: [1], jobs: [Number(sub[1])], job_calibrations: [] });
      if (/jobs\/\d+$/.test(path)) return ok({ status: 'success' });
      return ok({ ra: 1, dec: 2, radius: 1, pixscale: 1, orientation: 0, parity: 1 });
    },
  };
}

async function batch(n, concurrency) {
  const transport = instantNova();
  const session = new Session({ apiKey: 'benchbenchbenchb', apiUrl: 'http://127.0.0.1:1/api/', transport, polling: { minIntervalMs: 0, maxIntervalMs: 0 } });
  const items = Array.from({ length: n }, (_, i) => ({ id: `i${i}`, input: { upload: { kind: 'url', url: `http://x/${i}.png` }, options: {}, schedule: session.schedule } }));
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t0 = performance.now();
  // Through the one driver, as solveMany and the CLI run it (children followed by snapshots).
  const out = await driveBatch({ items, concurrency, solve: session.machine }).done;
  const ms = performance.now() - t0;
  clearInterval(timer);
  return { n, concurrency, ms, perItem: ms / n, requests: transport.requests, settled: out.settled, peakMb: (peak - rss0) / 2 ** 20 };
}

const table = (rows, columns) => {
  const widths = columns.map(([h, f]) => Math.max(h.length, ...rows.map((r) => String(f(r)).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padStart(widths[i])).join(' | ')} |`;
  console.log(line(columns.map(([h]) => h)));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(columns.map(([, f]) => f(r))));
  console.log();
};

console.log(`## Batch machine: N solves against an instant in-memory server (node ${process.version})\n`);
const sizes = (process.env.BENCH_SIZES ?? '100,1000,10000').split(',').map(Number);
const rows = [];
for (const n of sizes) rows.push(await batch(n, 8));
table(rows, [
  ['solves', (r) => r.n],
  ['concurrency', (r) => r.concurrency],
  ['total ms', (r) => r.ms.toFixed(0)],
  ['ms per solve', (r) => r.perItem.toFixed(3)],
  ['requests', (r) => r.requests],
  ['peak RSS growth MB', (r) => r.peakMb.toFixed(1)],
]);

