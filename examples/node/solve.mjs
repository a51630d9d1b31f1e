#!/usr/bin/env node
// A Node script that solves a file, a URL and a source list against the in-repo nova-compatible
// server, counting every request at the server. Run after `npm run build`:
//   node examples/node/solve.mjs [--solver simulated|solve-field]
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client } from '../../dist/src/index.js';
import { startServer } from '../../dist/src/server/index.js';

const solver = process.argv.includes('--solver') ? process.argv[process.argv.indexOf('--solver') + 1] : 'solve-field';
const image = fileURLToPath(new URL('../../assets/sample.png', import.meta.url));

// The server fetches URL uploads itself: serve the sample on another local port.
const host = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(readFileSync(image)));
await new Promise((resolve) => host.listen(0, '127.0.0.1', resolve));
const imageUrl = `http://127.0.0.1:${host.address().port}/sample.png`;

const server = await startServer({ port: 0, solver, allowPrivateUrls: true }); // the URL is on this machine
const client = new Client({ apiUrl: server.url, apiKey: server.apiKeys[0], polling: { firstDelayMs: 200, minIntervalMs: 200, maxIntervalMs: 1000 } });

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
  const { x, y } = readXy(axy.bytes);
  await counted('source list', () => client.solve({ sourceList: { x, y } }, { imageWidth: 800, imageHeight: 600 }));
} finally {
  await server.close();
  host.close();
}

/** The x and y columns of a FITS binary table (solve-field's axy file). */
function readXy(bytes) {
  const text = new TextDecoder('latin1').decode(bytes);
  const headerEnd = (start) => {
    for (let o = start; o < text.length; o += 80) if (text.startsWith('END ', o) || text.slice(o, o + 80).trim() === 'END') return Math.ceil((o + 80) / 2880) * 2880;
    throw new Error('no END card');
  };
  const second = headerEnd(0);
  const card = (key) => {
    for (let o = second; o < text.length; o += 80) if (text.slice(o, o + 8).trim() === key) return text.slice(o + 10, o + 80).split('/')[0].trim().replace(/'/g, '').trim();
    return undefined;
  };
  const rowBytes = Number(card('NAXIS1'));
  const rows = Number(card('NAXIS2'));
  const fields = Number(card('TFIELDS'));
  let offset = 0;
  const columns = {};
  for (let i = 1; i <= fields; i++) {
    const form = card(`TFORM${i}`);
    columns[card(`TTYPE${i}`).toLowerCase()] = { offset, type: form.slice(-1) };
    offset += { E: 4, D: 8, J: 4, I: 2, K: 8 }[form.slice(-1)] * (Number(form.slice(0, -1)) || 1);
  }
  const data = new DataView(bytes.buffer, bytes.byteOffset + headerEnd(second), rows * rowBytes);
  const read = (col, row) => (col.type === 'D' ? data.getFloat64(row * rowBytes + col.offset) : data.getFloat32(row * rowBytes + col.offset));
  const x = [];
  const y = [];
  for (let r = 0; r < rows; r++) {
    x.push(read(columns.x, r));
    y.push(read(columns.y, r));
  }
  return { x, y };
}
