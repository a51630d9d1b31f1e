#!/usr/bin/env node
// Solves the project's own sample image (assets/sample.png) through the embedded
// nova-compatible server and astrometry.net's real solver, with this package's client,
// and prints where it points and how long each stage took.
import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '../dist/src/index.js';
import { startServer } from 'astrometry-net-server';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const image = process.argv[2] ?? join(root, 'assets', 'sample.png');
const truth = process.argv[2] ? null : JSON.parse(await readFile(join(root, 'assets', 'sample.truth.json'), 'utf8'));

const fmt = (ms) => (ms === undefined ? '-' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`);
const hms = (deg, hours) => {
  const sign = deg < 0 ? '-' : hours ? '' : '+';
  let v = Math.abs(hours ? deg / 15 : deg);
  const a = Math.floor(v); v = (v - a) * 60;
  const b = Math.floor(v); const c = ((v - b) * 60).toFixed(hours ? 2 : 1);
  return `${sign}${String(a).padStart(2, '0')}${hours ? 'h' : 'd'}${String(b).padStart(2, '0')}m${c.padStart(hours ? 5 : 4, '0')}s`;
};

const dataDir = await mkdtemp(join(tmpdir(), 'astrometry-net-sample-'));
const t0 = performance.now();
const server = await startServer({ port: 0, solver: 'solve-field', dataDir });
const serverMs = Math.round(performance.now() - t0);
try {
  const client = new Client({ apiUrl: server.url, apiKey: server.apiKeys[0], timeoutMs: 5 * 60_000 });
  const started = performance.now();
  const result = await client.solve({ file: image });
  const total = Math.round(performance.now() - started);
  const c = result.calibration;
  const wcs = await result.wcs();
  console.log(`Solved ${image}`);
  console.log(`  server           ${server.url} (real solve-field)`);
  console.log(`  submission/job   ${result.subid} / ${result.jobId}`);
  console.log(`  field centre     RA ${c.ra.toFixed(5)}°  Dec ${c.dec.toFixed(5)}°   (${hms(c.ra, true)} ${hms(c.dec, false)})`);
  console.log(`  pixel scale      ${c.pixscale.toFixed(3)} arcsec/px`);
  console.log(`  orientation      ${c.orientation.toFixed(2)}° (up is this many degrees E of N), parity ${c.parity}`);
  if (c.width_arcsec && c.height_arcsec) {
    console.log(`  field size       ${(c.width_arcsec / 60).toFixed(1)}' x ${(c.height_arcsec / 60).toFixed(1)}', radius ${c.radius.toFixed(3)}°`);
  }
  console.log(`  WCS              CRVAL ${wcs.header.get('CRVAL1')}, ${wcs.header.get('CRVAL2')}  CTYPE ${wcs.header.get('CTYPE1')}, ${wcs.header.get('CTYPE2')}`);
  if (truth) {
    const dra = (c.ra - truth.ra) * Math.cos((truth.dec * Math.PI) / 180);
    const offArcsec = Math.hypot(dra, c.dec - truth.dec) * 3600;
    console.log(`  vs truth         centre off by ${offArcsec.toFixed(2)}", scale off by ${((100 * (c.pixscale - truth.scale_arcsec)) / truth.scale_arcsec).toFixed(3)} %`);
  }
  console.log('Time per stage');
  console.log(`  start server         ${fmt(serverMs)}`);
  for (const [stage, label] of [['loggingIn', 'log in'], ['uploading', 'upload'], ['submissionPending', 'ingest (submission)'], ['jobRunning', 'solve (job)']]) {
    console.log(`  ${label.padEnd(21)}${fmt(result.timings[stage])}`);
  }
  console.log(`  total                ${fmt(total)}`);
} finally {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
}
