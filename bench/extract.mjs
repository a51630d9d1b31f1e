#!/usr/bin/env node
// Star extraction on a generated 4096 x 4096 16-bit FITS (sky gradient, Poisson-like noise,
// 3000 Gaussian stars): extractSources in Node beside Debian's image2xy on the same file.
// Each runs in its own process, so peak memory (max RSS) is its own. Prints a table.
// Run with `npm run build && node bench/extract.mjs [runs]`.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SIZE = 4096;
const STARS = 3000;
const runs = Number(process.argv[2] ?? 3);

if (process.argv[2] === '--child') {
  // One extraction, timed inside the process (decode included, Node start-up not).
  const { extractSources } = await import('../dist/src/extract/index.js');
  const t0 = performance.now();
  const found = await extractSources(process.argv[3]);
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ ms, sources: found.x.length, maxRssKb: process.resourceUsage().maxRSS, x: found.x, y: found.y }));
  process.exit(0);
}

/** A deterministic PRNG, so every run benches the same image. */
function mulberry32(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generate(path) {
  const { writeImage } = fits;
  const rnd = mulberry32(42);
  const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const data = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const sky = 1000 + 200 * (x / SIZE) + 100 * (y / SIZE);
      data[y * SIZE + x] = sky + Math.sqrt(sky) * gauss();
    }
  }
  for (let s = 0; s < STARS; s++) {
    const cx = rnd() * SIZE;
    const cy = rnd() * SIZE;
    const peak = 200 * Math.exp(rnd() * 5);
    const sigma = 1.2 + 0.6 * rnd();
    const r = Math.ceil(4 * sigma);
    for (let y = Math.max(0, Math.floor(cy) - r); y <= Math.min(SIZE - 1, Math.floor(cy) + r); y++) {
      for (let x = Math.max(0, Math.floor(cx) - r); x <= Math.min(SIZE - 1, Math.floor(cx) + r); x++) {
        data[y * SIZE + x] += peak * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma * sigma));
      }
    }
  }
  for (let i = 0; i < data.length; i++) data[i] = Math.min(65535, Math.max(0, Math.round(data[i])));
  writeFileSync(path, writeImage({ width: SIZE, height: SIZE, bitpix: 16, bzero: 32768, data }));
}

const fits = await import('../dist/src/fits/index.js');
const dir = mkdtempSync(join(tmpdir(), 'bench-extract-'));
const file = join(dir, 'field-4k.fits');
try {
  generate(file);
  const self = fileURLToPath(import.meta.url);
  const ours = [];
  const theirs = [];
  for (let i = 0; i < runs; i++) {
    const w0 = performance.now();
    const child = JSON.parse(execFileSync(process.execPath, [self, '--child', file], { encoding: 'utf8', maxBuffer: 1 << 20 }));
    ours.push({ ...child, wallMs: performance.now() - w0 });
    const out = join(dir, 'ref.xy');
    const t0 = performance.now();
    const r = spawnSync('/usr/bin/time', ['-f', '%M', 'image2xy', '-O', '-o', out, file], { encoding: 'utf8' });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`image2xy failed: ${r.stderr}`);
    const maxRssKb = Number(r.stderr.trim().split('\n').at(-1));
    const { readBinTable } = fits;
    const { readFileSync } = await import('node:fs');
    const table = readBinTable(new Uint8Array(readFileSync(out)));
    theirs.push({ ms, wallMs: ms, sources: table.rows, maxRssKb, x: table.column('X'), y: table.column('Y') });
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const row = (name, rs) => ({
    extractor: name,
    'time (ms, median)': Math.round(median(rs.map((r) => r.ms))),
    'process wall (ms)': Math.round(median(rs.map((r) => r.wallMs))),
    'peak RSS (MB)': Math.round(median(rs.map((r) => r.maxRssKb)) / 1024),
    sources: rs[0].sources,
  });
  // How many of image2xy's 100 brightest extractSources also found, within 1 px.
  const ref = theirs[0];
  const mine = ours[0];
  let matched = 0;
  for (let i = 0; i < Math.min(100, ref.x.length); i++) {
    for (let j = 0; j < mine.x.length; j++) {
      if (Math.hypot(mine.x[j] - ref.x[i], mine.y[j] - ref.y[i]) <= 1) {
        matched++;
        break;
      }
    }
  }
  const a = row('extractSources (Node)', ours);
  const b = row('image2xy (Debian)', theirs);
  console.log(`Star extraction, ${SIZE} x ${SIZE} 16-bit FITS with ${STARS} stars, ${runs} run(s) each:`);
  console.table([a, b]);
  console.log(`time ratio extractSources / image2xy: ${(a['time (ms, median)'] / b['time (ms, median)']).toFixed(2)} in-process, ${(a['process wall (ms)'] / b['process wall (ms)']).toFixed(2)} whole process (goal: <= 2)`);
  console.log(`image2xy's 100 brightest found by extractSources within 1 px: ${matched}`);
  console.log('(time: reading, decoding and extraction; process wall adds Node start-up and module loading.)');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
