#!/usr/bin/env node
// `npm run example`: the React example against a local server with the real solver.
// Starts the embedded nova-compatible server (CORS open to the example's origin only) and the
// example's Vite dev server, then prints the page to open. Ctrl-C stops both.
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { startServer } from 'astrometry-net-server';

const port = Number(process.env.EXAMPLE_PORT ?? 5173);
const origin = `http://127.0.0.1:${port}`;
const api = await startServer({ port: Number(process.env.API_PORT ?? 0), solver: process.env.SOLVER ?? 'solve-field', cors: { origins: [origin] } });
const vite = await createServer({
  configFile: fileURLToPath(new URL('../examples/react/vite.config.ts', import.meta.url)),
  server: { host: '127.0.0.1', port, strictPort: true },
});
await vite.listen();
const page = `${origin}/?api=${encodeURIComponent(api.url)}&key=${api.apiKeys[0]}`;
console.log(`API server: ${api.url}`);
console.log(`Open:       ${page}`);
console.log(`Inspector:  ${page}&inspect=1`);
const stop = async () => {
  await vite.close();
  await api.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
