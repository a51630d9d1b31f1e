#!/usr/bin/env node
// Hostile files given to local extraction (`extractSources`), each in a fresh process: how long
// until the typed error, and the process's peak RSS. Also one image within the budget, to set
// the decoding memory beside its floor (8 bytes per pixel plus 100 MB).
//
//   npm run build && node bench/hostile-files.mjs
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGzip, crc32, deflateSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));

if (process.argv[2] === '--one') {
  const { extractSources, decodeImage } = await import('../dist/src/extract/node.js');
  const t0 = performance.now();
  let outcome;
  try {
    if (process.argv[4] === 'decode') {
      const image = await decodeImage(new Uint8Array(readFileSync(process.argv[3])));
      outcome = `decoded ${image.width} × ${image.height}`;
    } else {
      await extractSources(process.argv[3]);
      outcome = 'extracted';
    }
  } catch (e) {
    outcome = `${e.constructor.name} ${e.code ?? ''}`.trim();
  }
  const ms = performance.now() - t0;
  const hwm = Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
  process.stdout.write(JSON.stringify({ outcome, ms, rssMb: hwm }) + '\n');
  process.exit(0);
}

const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([len, typed, crc]);
};
const png = (w, h, colour, idat) => {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = colour;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
};
const jpeg = (w, h) => Buffer.from([0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08, h >> 8, h & 0xff, w >> 8, w & 0xff, 0x01, 0x01, 0x11, 0x00, 0xff, 0xd9]);
const fitsHeader = (w, h, bitpix) =>
  Buffer.from(['SIMPLE  =                    T', `BITPIX  = ${String(bitpix).padStart(20)}`, 'NAXIS   =                    2', `NAXIS1  = ${String(w).padStart(20)}`, `NAXIS2  = ${String(h).padStart(20)}`, 'END'].map((c) => c.padEnd(80)).join('').padEnd(2880), 'latin1');
/** A FITS header with 40 blocks of COMMENT cards between SIMPLE and NAXIS: its END comes late. */
const longHeader = (w, h, bitpix) => {
  const cards = ['SIMPLE  =                    T', `BITPIX  = ${String(bitpix).padStart(20)}`, ...Array.from({ length: 40 * 36 }, (_, i) => `COMMENT ${i}`), 'NAXIS   =                    2', `NAXIS1  = ${String(w).padStart(20)}`, `NAXIS2  = ${String(h).padStart(20)}`, 'END'];
  const text = cards.map((c) => c.padEnd(80)).join('');
  return Buffer.from(text.padEnd(Math.ceil(text.length / 2880) * 2880), 'latin1');
};
async function gzipZeros(head, zeros) {
  const gz = createGzip({ level: 9 });
  const out = [];
  gz.on('data', (c) => out.push(c));
  const done = new Promise((r) => gz.on('end', r));
  gz.write(head);
  const block = Buffer.alloc(4 * 2 ** 20);
  for (let left = zeros; left > 0; left -= block.length) if (!gz.write(left >= block.length ? block : block.subarray(0, left))) await new Promise((r) => gz.once('drain', r));
  gz.end();
  await done;
  return Buffer.concat(out);
}

const dir = mkdtempSync(join(tmpdir(), 'anc-hostile-'));
try {
  const small = readFileSync(join(here, '..', 'test', 'fixtures', 'small.png'));
  const cases = [
    ['20 000 × 20 000 PNG bomb (grey, zeros)', 'bomb.png', png(20000, 20000, 0, deflateSync(Buffer.alloc(20001 * 2000), { level: 9 }))],
    ['JPEG header claiming 20 000 × 20 000', 'h20k.jpg', jpeg(20000, 20000)],
    ['JPEG header claiming 65 535 × 65 535', 'h65k.jpg', jpeg(65535, 65535)],
    ['PNG header claiming 100 000 × 100 000', 'h100k.png', png(100000, 100000, 0, deflateSync(Buffer.alloc(10)))],
    ['FITS header claiming 100 000 × 100 000', 'h100k.fits', fitsHeader(100000, 100000, 16)],
    ['gzipped FITS of 1.6 GB (20 000² float)', 'big.fits.gz', await gzipZeros(fitsHeader(20000, 20000, -32), 1_600_000_000)],
    ['gzipped FITS, 40-block header, 20 000² float', 'long.fits.gz', await gzipZeros(longHeader(20000, 20000, -32), 400_000_000)],
    ['PNG declaring 100 × 100, data inflating to 300 MB', 'idat.png', png(100, 100, 0, deflateSync(Buffer.alloc(300 * 2 ** 20), { level: 9 }))],
    ['truncated PNG', 'cut.png', small.subarray(0, Math.floor(small.length / 2))],
    ['truncated FITS', 'cut.fits', Buffer.concat([fitsHeader(100, 100, 16), Buffer.alloc(5000)])],
    ['a zip named .fits', 'zip.fits', Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(200)])],
  ];
  const rows = [];
  for (const [what, name, bytes] of cases) {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--one', path], { encoding: 'utf8' });
    rows.push({ what, size: bytes.length, ...JSON.parse(r.stdout.trim().split('\n').pop()) });
  }
  // Within the budget: a 6 000 × 4 000 RGB PNG (24 megapixels), decoded only.
  const w = 6000, h = 4000, raw = Buffer.alloc((w * 3 + 1) * h);
  for (let i = 0; i < raw.length; i += 97) raw[i] = i & 0xff;
  for (let row = 0; row < h; row++) raw[row * (w * 3 + 1)] = 0; // filter type: none
  const okPath = join(dir, 'ok.png');
  writeFileSync(okPath, png(w, h, 2, deflateSync(raw, { level: 1 })));
  const ok = JSON.parse(spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--one', okPath, 'decode'], { encoding: 'utf8' }).stdout.trim());
  const base = JSON.parse(spawnSync(process.execPath, ['-e', "console.log(JSON.stringify({rssMb: Number(/^VmHWM:\\s+(\\d+) kB/m.exec(require('fs').readFileSync('/proc/self/status','utf8'))[1])/1024}))"], { encoding: 'utf8' }).stdout);

  console.log('\nHostile files given to extractSources, each in a fresh process (goal: typed, under 5 s, under 300 MB)');
  console.log('| file | bytes | outcome | time | peak RSS |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.what} | ${r.size} | ${r.outcome} | ${r.ms.toFixed(0)} ms | ${r.rssMb.toFixed(0)} MB |`);
  console.log(`\nWithin the budget: a ${w} × ${h} RGB PNG (${(w * h) / 1e6} megapixels) decoded: ${ok.outcome}, ${ok.ms.toFixed(0)} ms, peak RSS ${ok.rssMb.toFixed(0)} MB`);
  console.log(`(an empty node process: ${base.rssMb.toFixed(0)} MB; the floor of 8 bytes per pixel plus 100 MB: ${((w * h * 8) / 2 ** 20 + 100).toFixed(0)} MB)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
