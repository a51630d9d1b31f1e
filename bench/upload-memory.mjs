#!/usr/bin/env node
// Memory of a large upload, client and server each in their own process, as users run them:
// `astrometry-net serve --solver simulated` in one, this package's Client solving a generated
// FITS file in another. Prints file size, peak RSS of each process (VmHWM / maxRSS), the
// CPU seconds and the upload rate, beside a bare undici script making the same upload with the
// same two buffers. Goals: client peak RSS at most 1.15x bare undici's, serve <= 200 MB.
//
//   npm run build && node bench/upload-memory.mjs            # 1024 MB
//   UPLOAD_MB=100,1024 node bench/upload-memory.mjs
//
// The generated file lives under the OS temp directory and is deleted afterwards.
import { spawn } from 'node:child_process';
import { open, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'dist', 'src', 'cli', 'main.js');
const API_KEY = 'benchuploadmemor';

if (process.argv[2] === '--client') {
  await clientMain(process.argv[3], process.argv[4]);
} else if (process.argv[2] === '--bare') {
  await bareMain(process.argv[3], process.argv[4]);
} else {
  await main();
}

/** The client process: one solve of `file`, then its own figures as one JSON line. */
async function clientMain(apiUrl, file) {
  const { Client } = await import('../dist/src/index.js');
  const client = new Client({ apiUrl, apiKey: API_KEY, timeoutMs: 30 * 60_000 });
  const cpu0 = process.cpuUsage();
  const result = await client.solve({ file });
  const cpu = process.cpuUsage(cpu0);
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  process.stdout.write(
    JSON.stringify({
      maxRssKb: vmHwmKb(status) ?? process.resourceUsage().maxRSS,
      userS: cpu.user / 1e6,
      sysS: cpu.system / 1e6,
      uploadMs: result.timings.uploading ?? null,
      jobId: result.jobId,
    }) + '\n',
  );
}

/**
 * The floor: undici alone, the same upload (login, then the multipart body with an exact
 * Content-Length, the file read through two 1 MiB buffers used in turn), framing written by hand.
 */
async function bareMain(apiUrl, file) {
  const { Agent, request } = await import('undici');
  const dispatcher = new Agent();
  const cpu0 = process.cpuUsage();
  const json = async (path, body, headers) => JSON.parse(await (await request(new URL(path, apiUrl), { method: 'POST', body, headers, dispatcher })).body.text());
  const { session } = await json('login', new URLSearchParams({ 'request-json': JSON.stringify({ apikey: API_KEY }) }).toString(), { 'content-type': 'application/x-www-form-urlencoded' });
  const boundary = `----bare${Math.random().toString(16).slice(2)}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="request-json"\r\n\r\n${JSON.stringify({ session, publicly_visible: 'n' })}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.fits"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const fh = await open(file, 'r');
  const { size } = await fh.stat();
  const buffers = [Buffer.alloc(2 ** 20), Buffer.alloc(2 ** 20)];
  async function* body() {
    yield head;
    for (let at = 0, i = 0; at < size; i++) {
      const buf = buffers[i % 2];
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - at), at);
      at += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
    yield tail;
  }
  const t0 = performance.now();
  const answer = await json('upload', body(), { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + size + tail.length) });
  const uploadMs = performance.now() - t0;
  await fh.close();
  if (typeof answer.subid !== 'number') throw new Error(`upload failed: ${JSON.stringify(answer)}`);
  const cpu = process.cpuUsage(cpu0);
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  process.stdout.write(JSON.stringify({ maxRssKb: vmHwmKb(status) ?? process.resourceUsage().maxRSS, userS: cpu.user / 1e6, sysS: cpu.system / 1e6, uploadMs }) + '\n');
  await dispatcher.close();
}

function vmHwmKb(status) {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

/** A FITS image of about `mb` MiB (8-bit, square-ish), written sparsely: no disk use for the data. */
async function makeFits(path, mb) {
  const bytes = mb * 2 ** 20;
  const side = Math.floor(Math.sqrt(bytes));
  const card = (s) => s.padEnd(80, ' ');
  const header = [
    card('SIMPLE  =                    T'),
    card('BITPIX  =                    8'),
    card('NAXIS   =                    2'),
    card(`NAXIS1  = ${String(side).padStart(20)}`),
    card(`NAXIS2  = ${String(side).padStart(20)}`),
    card('END'),
  ].join('').padEnd(2880, ' ');
  const data = side * side;
  const total = 2880 + Math.ceil(data / 2880) * 2880;
  const fh = await open(path, 'w');
  try {
    await fh.write(Buffer.from(header, 'latin1'), 0, 2880, 0);
    await fh.truncate(total);
  } finally {
    await fh.close();
  }
  return total;
}

function run(args, onLine) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => {
    out += d;
    let i;
    while ((i = out.indexOf('\n')) >= 0) {
      onLine?.(out.slice(0, i));
      out = out.slice(i + 1);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d) => (err = (err + d).slice(-4000)));
  const exit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exit, stderr: () => err };
}

async function measure(mb, nodeFlags = [], who = '--client') {
  const dir = await mkdtemp(join(tmpdir(), 'anc-upload-memory-'));
  const file = join(dir, 'big.fits');
  const serve = { proc: undefined };
  try {
    const bytes = await makeFits(file, mb);
    let url;
    const gotUrl = new Promise((resolve) => (url = resolve));
    serve.proc = run(
      [CLI, 'serve', '--port', '0', '--solver', 'simulated', '--api-key', API_KEY, '--data-dir', join(dir, 'data'), '--max-upload-mb', String(mb + 64)],
      (line) => url(line),
    );
    const apiUrl = await Promise.race([
      gotUrl,
      serve.proc.exit.then((code) => {
        throw new Error(`serve exited (${code}): ${serve.proc.stderr()}`);
      }),
    ]);
    let report;
    const client = run([...nodeFlags, fileURLToPath(import.meta.url), who, apiUrl, file], (line) => (report = JSON.parse(line)));
    const code = await client.exit;
    if (code !== 0 || !report) throw new Error(`client failed (${code}): ${client.stderr()}`);
    // VmHWM is the process's peak RSS so far: read it before the server stops.
    const serveKb = vmHwmKb(await readFile(`/proc/${serve.proc.child.pid}/status`, 'utf8'));
    return { mb: bytes / 2 ** 20, who: who === '--bare' ? 'bare undici' : 'this client', flags: nodeFlags.join(' ') || '(none)', clientMb: report.maxRssKb / 1024, serveMb: (serveKb ?? NaN) / 1024, ...report };
  } finally {
    if (serve.proc) {
      serve.proc.child.kill('SIGTERM');
      await serve.proc.exit;
    }
    await rm(dir, { recursive: true, force: true });
  }
}

async function main() {
  const sizes = (process.env.UPLOAD_MB ?? '1024').split(',').map(Number);
  const rows = [];
  // The second row of each size shows what the first one's peak is made of: V8 recompiling
  // undici's HTTP parser (WebAssembly) at its optimising tier, a one-time transient of about
  // 25 MB in any process that makes a few requests through undici, whatever it uploads.
  for (const mb of sizes) {
    rows.push(await measure(mb), await measure(mb, [], '--bare'), await measure(mb, ['--liftoff-only']), await measure(mb, ['--liftoff-only'], '--bare'));
  }
  const columns = [
    ['file MB', (r) => r.mb.toFixed(0)],
    ['uploader', (r) => r.who],
    ['node flags', (r) => r.flags],
    ['uploader peak RSS MB', (r) => r.clientMb.toFixed(1)],
    ['serve peak RSS MB', (r) => r.serveMb.toFixed(1)],
    ['user CPU s', (r) => r.userS.toFixed(2)],
    ['sys CPU s', (r) => r.sysS.toFixed(2)],
    ['upload MB/s', (r) => (r.uploadMs ? (r.mb / (r.uploadMs / 1000)).toFixed(0) : '-')],
  ];
  const widths = columns.map(([h, f]) => Math.max(h.length, ...rows.map((r) => String(f(r)).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padStart(widths[i])).join(' | ')} |`;
  console.log(`## Upload memory: client and \`serve --solver simulated\` in separate processes (node ${process.version})\n`);
  console.log(line(columns.map(([h]) => h)));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(columns.map(([, f]) => f(r))));
  for (let i = 0; i + 1 < rows.length; i += 2) {
    console.log(`\nclient / bare undici peak RSS (${rows[i].flags}): ${(rows[i].clientMb / rows[i + 1].clientMb).toFixed(2)} (goal: at most 1.15)`);
  }
  console.log('Goals: client peak RSS at most 1.15x bare undici\'s with the same buffers, serve peak RSS <= 200 MB (peak RSS = VmHWM of each process).');
  console.log('--liftoff-only keeps WebAssembly at V8\'s baseline tier: the difference between the two rows is the');
  console.log('optimising compile of undici\'s llhttp parser, not the upload (the file is read through two 1 MiB buffers).');
}
