#!/usr/bin/env node
// The client's cost per solve through real HTTP: `solveMany` on path inputs against
// `astrometry-net serve --solver simulated` running in its own process. The client runs in a
// fresh process per row, so its CPU (process.cpuUsage, user + system) and peak RSS (VmHWM) are
// its own. Goals (issue 9): 10 000 solves in no more than 10 s of client CPU and 300 MB peak RSS,
// and a 10 000 / 1 000 cost ratio of no more than 11.
//
//   npm run build && node bench/solves-http.mjs            # 1 000 and 10 000 solves
//   SOLVES=100,1000 node bench/solves-http.mjs
//   CPU_PROF=1 node bench/solves-http.mjs                  # writes a .cpuprofile of the client per row
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'dist', 'src', 'cli', 'main.js');
const API_KEY = 'benchsolveshttpx';
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);

if (process.argv[2] === '--client') await clientMain(process.argv[3], process.argv[4], Number(process.argv[5]));
else await main();

async function clientMain(apiUrl, file, n) {
  const { Client } = await import('../dist/src/index.js');
  // No floor: the server holds status reads, so each read waits for a change there.
  const client = new Client({ apiUrl, apiKey: API_KEY, polling: { minIntervalMs: 0 }, timeoutMs: 10 * 60_000 });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let solved = 0;
  let failed = 0;
  for await (const o of client.solveMany(Array.from({ length: n }, () => file), { concurrency: CONCURRENCY })) {
    if (o.error) failed++;
    else solved++;
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const status = await readFile('/proc/self/status', 'utf8');
  const hwm = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
  process.stdout.write(JSON.stringify({ n, solved, failed, ms, userS: cpu.user / 1e6, sysS: cpu.system / 1e6, rssMb: hwm / 1024 }) + '\n');
}

async function main() {
  const counts = (process.env.SOLVES ?? '1000,10000').split(',').map(Number);
  const dir = await mkdtemp(join(tmpdir(), 'anc-bench-http-'));
  const file = join(dir, 'small.png');
  await writeFile(file, await readFile(join(here, '..', 'test', 'fixtures', 'small.png')));
  const server = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--api-key', API_KEY, '--solver', 'simulated', '--concurrency', '32', '--data-dir', join(dir, 'data')], {
    // serve logs every request on stderr: 50 000 lines for 10 000 solves. Kept for an error only.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let serveLog = '';
  server.stderr.setEncoding('utf8').on('data', (d) => (serveLog = (serveLog + d).slice(-4000)));
  const apiUrl = await new Promise((resolve, reject) => {
    let text = '';
    server.stdout.on('data', (chunk) => {
      text += chunk;
      const m = /(http:\/\/127\.0\.0\.1:\d+\/api\/)/.exec(text);
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`serve exited ${code}: ${serveLog}`)));
  });
  server.stdout.resume();
  const rows = [];
  try {
    for (const n of counts) {
      const args = [...(process.env.CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(here, '..', 'bench-profiles')}`] : []), fileURLToPath(import.meta.url), '--client', apiUrl, file, String(n)];
      const out = await new Promise((resolve, reject) => {
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        child.stdout.on('data', (c) => (text += c));
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text.trim().split('\n').pop())) : reject(new Error(`client exited ${code}; serve's last lines: ${serveLog}`))));
      });
      rows.push(out);
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`\nsolveMany through real HTTP to serve --solver simulated (client concurrency ${CONCURRENCY}, its own process)`);
  console.log('| solves | solved | wall | client CPU (user + sys) | CPU per solve | client peak RSS |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const cpu = r.userS + r.sysS;
    console.log(`| ${r.n} | ${r.solved} | ${(r.ms / 1000).toFixed(1)} s | ${cpu.toFixed(2)} s (${r.userS.toFixed(2)} + ${r.sysS.toFixed(2)}) | ${((cpu / r.n) * 1000).toFixed(2)} ms | ${r.rssMb.toFixed(0)} MB |`);
  }
  if (rows.length >= 2) {
    const [a, b] = [rows[0], rows[rows.length - 1]];
    console.log(`cost ratio ${b.n} / ${a.n}: ${((b.userS + b.sysS) / (a.userS + a.sysS)).toFixed(2)} (goal for 10 000 / 1 000: at most 11)`);
  }
}
