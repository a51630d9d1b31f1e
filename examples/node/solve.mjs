#!/usr/bin/env node
// A Node script that solves a file, a URL and a source list against the in-repo nova-compatible
// server, counting every request at the server. Run after `npm run build`:
//   node examples/node/solve.mjs [--solver simulated|solve-field]
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client } from '../../dist/src/index.js';
import { readXyColumns } from '../../dist/src/fits/index.js';
import { startServer } from 'astrometry-net-server';

const solver = process.argv.includes('--solver') ? process.argv[process.argv.indexOf('--solver') + 1] : 'solve-field';
const image = fileURLToPath(new URL('../../assets/sample.png', import.meta.url));

// The server fetches URL uploads itself: serve the sample on another local port.
const host = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(readFileSync(image)));
await new Promise((resolve) => host.listen(0, '127.0.0.1', resolve));
const imageUrl = `http://127.0.0.1:${host.address().port}/sample.png`;

const server = await startServer({ port: 0, solver, allowPrivateUrls: true }); // the URL is on this machine
const client = new Client({ apiUrl: server.url, apiKey: server.apiKeys[0], polling: { minIntervalMs: 200, maxIntervalMs: 1000 } });

async function counted(label, run) {
  const before = server.requests.length;
  const result = await run();
  const requests = server.requests.slice(before).map((r) => r.endpoint);
  const c = result.calibration;
  console.log(`${label.padEnd(12)} RA ${c.ra.toFixed(4)}  Dec ${c.dec.toFixed(4)}  ${c.pixscale.toFixed(2)}"/px  ${requests.length} requests: ${requests.join(' ')}`);
  return result;
}

try {
  const fromFile = await counted('file', () => client.solve(image));
  await counted('url', () => client.solve(imageUrl));
  // A source list: the stars the solver found in the file, sent as x/y positions.
  const axy = await fromFile.job.axyFile();
  const { x, y } = readXyColumns(axy.bytes);
  await counted('source list', () => client.solve({ sourceList: { x, y } }, { imageWidth: 800, imageHeight: 600 }));
} finally {
  await server.close();
  host.close();
}
