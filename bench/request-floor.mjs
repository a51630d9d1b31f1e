#!/usr/bin/env node
// What one HTTP request costs a Node process, before any client logic: bare undici and bare
// node:http GETs, 16 in flight, against a server (its own process) that answers after a delay.
// An instant server lets one wakeup of the event loop collect many answers; a server that takes
// its time, as a solving server does, wakes the client once per answer, and each of those
// wakeups costs CPU of its own. This is the floor under bench/solves-http.mjs, whose solves
// make four requests each against a server that paces them.
//
//   node bench/request-floor.mjs                  # delays 0, 20 and 120 ms
//   DELAYS=0,50 node bench/request-floor.mjs
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const IN_FLIGHT = 16;

if (process.argv[2] === '--server') server(Number(process.argv[3]));
else await main();

function server(delayMs) {
  const body = '{"status": "success"}';
  const s = http.createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
        res.end(body);
      }, delayMs),
    );
  });
  s.keepAliveTimeout = 60_000;
  s.listen(0, '127.0.0.1', () => console.log(`http://127.0.0.1:${s.address().port}/api/jobs/1`));
}

/** CPU microseconds (user + system) per GET, `n` GETs with IN_FLIGHT at once, after a warm-up. */
async function perGet(get, n) {
  for (let i = 0; i < 200; i++) await get();
  let next = 0;
  const c0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next++ < n) await get();
    }),
  );
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

async function main() {
  const { request } = await import('undici');
  const delays = (process.env.DELAYS ?? '0,20,120').split(',').map(Number);
  const rows = [];
  for (const delay of delays) {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--server', String(delay)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const url = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(String(d).trim())));
    // About eight seconds of requests at each delay.
    const n = delay === 0 ? 20_000 : Math.round((8000 / delay) * IN_FLIGHT);
    const agent = new http.Agent({ keepAlive: true });
    const undiciUs = await perGet(async () => (await request(url)).body.arrayBuffer(), n);
    const httpUs = await perGet(
      () =>
        new Promise((resolve, reject) =>
          http.get(url, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject),
        ),
      n,
    );
    agent.destroy();
    child.kill();
    rows.push({ delay, n, undiciUs, httpUs });
  }
  console.log(`\nBare GETs, ${IN_FLIGHT} in flight, server answering after a delay (node ${process.version})`);
  console.log('| server delay | GETs | undici CPU per GET | node:http CPU per GET |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.delay} ms | ${r.n} | ${r.undiciUs.toFixed(0)} µs | ${r.httpUs.toFixed(0)} µs |`);
  console.log('A solve makes four requests (upload, submission, job, calibration); bench/solves-http.mjs solves');
  console.log('against a server that paces its answers, so four paced requests are the floor of its CPU per solve.');
}
