#!/usr/bin/env node
// `npm run bench`: every benchmark, one after another, each in its own process, each printing
// its table. Timings and memory live here, never in tests.
//
//   BENCH_QUICK=1 npm run bench     # smaller sizes (1 000 solves, L up to 120 s, 200 MB upload)
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.env.BENCH_QUICK === '1';
const runs = [
  // The client package as published, beside 0.1.0's figures (measured with the same script at c2199c1).
  ['package.mjs', {}, ['--before', join(here, 'results', 'package-0.1.0.json')]],
  ['batch-in-memory.mjs', { BENCH_SIZES: quick ? '100,1000' : '100,1000,10000' }],
  ['polling.mjs', quick ? {} : { BENCH_LONG: '1' }],
  ['request-floor.mjs', {}],
  ['solve-cost.mjs', quick ? { BATCH: '500', SEQUENTIAL: '30', HOLD_S: '20', REPS: '1' } : {}],
  ['machine-floor.mjs', quick ? { N: '500' } : {}],
  ['solves-http.mjs', { SOLVES: quick ? '1000' : '1000,10000' }],
  ['upload-memory.mjs', { UPLOAD_MB: quick ? '200' : '1024' }],
  ['extract.mjs', {}],
  ['hostile-files.mjs', {}],
  ['nodes.mjs', {}],
  ['hints.mjs', { ROUNDS: quick ? '1' : '3' }],
];
let failed = 0;
for (const [script, env, args = []] of runs) {
  console.log(`\n# bench/${script}`);
  const r = spawnSync(process.execPath, [join(here, script), ...args], { stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) {
    failed++;
    console.log(`(bench/${script} exited ${r.status ?? r.signal})`);
  }
}
process.exit(failed === 0 ? 0 : 1);
