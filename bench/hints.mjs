#!/usr/bin/env node
// Solver time with header hints against blind, on the real solver: `astrometry-net serve
// --solver solve-field --concurrency 1` in its own process, the small.fits fixture with the cards
// a capture program writes (OBJCTRA/OBJCTDEC 0.3° off, FOCALLEN, XPIXSZ, XBINNING), and a
// dithered sequence of 4 frames (only the first with the cards). Solver time is what serve's
// job records say (solve-field started → ended), summed; wall time is the client's.
//
//   npm run build && node bench/hints.mjs          # 3 rounds
//   ROUNDS=5 node bench/hints.mjs
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const CLI = join(root, 'dist', 'src', 'cli', 'main.js');
const API_KEY = 'benchhintsxxxxxx';
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const Database = createRequire(join(root, 'server', 'package.json'))('better-sqlite3');

const { Client } = await import('../dist/src/index.js');
const { readImage, writeImage } = await import('../dist/src/fits/index.js');

const truth = JSON.parse(await readFile(join(root, 'test', 'fixtures', 'small.truth.json'), 'utf8'));
const image = readImage(gunzipSync(await readFile(join(root, 'test', 'fixtures', 'small.fits.gz'))));

const sexagesimal = (units, perSecond, sign, decimals) => {
  const s = units / perSecond;
  const d = Math.floor(s / 3600);
  const m = Math.floor((s - d * 3600) / 60);
  return `${sign}${String(d).padStart(2, '0')} ${String(m).padStart(2, '0')} ${(s - d * 3600 - m * 60).toFixed(decimals).padStart(3 + decimals, '0')}`;
};
const cards = [
  { keyword: 'OBJCTRA', value: sexagesimal(Math.round(((truth.ra + 0.3) / 15) * 360_000), 100, '', 2) },
  { keyword: 'OBJCTDEC', value: sexagesimal(Math.round(Math.abs(truth.dec - 0.2) * 36_000), 10, truth.dec < 0 ? '-' : '+', 1) },
  { keyword: 'FOCALLEN', value: Number(((206.264806 * 7.52) / truth.scale_arcsec).toFixed(2)) },
  { keyword: 'XPIXSZ', value: 7.52 },
  { keyword: 'XBINNING', value: 2 },
];

function frame(dx, dy, extra = []) {
  const { width, height } = image;
  const data = new Float32Array(width * height).fill(image.data[0]);
  for (let y = 0; y < height; y++) {
    if (y - dy < 0 || y - dy >= height) continue;
    for (let x = 0; x < width; x++) if (x - dx >= 0 && x - dx < width) data[y * width + x] = image.data[(y - dy) * width + x - dx];
  }
  return { bytes: writeImage({ width, height, bitpix: -32, data, cards: extra }), filename: `f${dx}_${dy}.fits` };
}

const dir = await mkdtemp(join(tmpdir(), 'bench-hints-'));
const serve = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--solver', 'solve-field', '--concurrency', '1', '--data-dir', dir, '--api-key', API_KEY], { stdio: ['ignore', 'pipe', 'ignore'] });
const apiUrl = await new Promise((resolve, reject) => {
  let out = '';
  serve.stdout.setEncoding('utf8').on('data', (d) => {
    out += d;
    if (out.includes('\n')) resolve(out.split('\n')[0]);
  });
  serve.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
});

const client = new Client({ apiUrl, apiKey: API_KEY, polling: { minIntervalMs: 100, maxIntervalMs: 500 }, timeoutMs: 120_000 });
const solverSeconds = (ids) => {
  const db = new Database(join(dir, 'astrometry-net.sqlite'), { readonly: true });
  try {
    return db.prepare(`SELECT SUM(ended_at - started_at) AS us FROM jobs WHERE id IN (${ids.map(() => '?').join(',')})`).get(...ids).us / 1e6;
  } finally {
    db.close();
  }
};
async function many(inputs, options) {
  const t0 = performance.now();
  const ids = [];
  for await (const o of client.solveMany(inputs, options)) {
    if (o.error) throw o.error;
    ids.push(o.jobId);
  }
  return { solver: solverSeconds(ids), wall: (performance.now() - t0) / 1000 };
}

const single = frame(0, 0, cards);
const dithers = [[0, 0], [14, 9], [-11, 17], [23, -13]].map(([dx, dy], i) => frame(dx, dy, i === 0 ? cards : []));
const rows = { 'single, hinted': [], 'single, blind': [], 'sequence of 4, hinted': [], 'sequence of 4, blind': [] };
try {
  for (let round = 0; round < ROUNDS; round++) {
    rows['single, hinted'].push(await many([single], {}));
    rows['single, blind'].push(await many([single], { headerHints: false }));
    rows['sequence of 4, hinted'].push(await many(dithers, { sequence: true }));
    rows['sequence of 4, blind'].push(await many(dithers, { headerHints: false, concurrency: 1 }));
  }
} finally {
  serve.kill('SIGTERM');
  await new Promise((r) => serve.once('exit', r));
  await rm(dir, { recursive: true, force: true });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`| case (median of ${ROUNDS}) | solver time (serve's job records) | client wall time |`);
console.log('|---|---|---|');
for (const [name, runs] of Object.entries(rows)) {
  console.log(`| ${name} | ${median(runs.map((r) => r.solver)).toFixed(2)} s | ${median(runs.map((r) => r.wall)).toFixed(2)} s |`);
}
console.log(JSON.stringify(rows));
