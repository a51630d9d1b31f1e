/**
 * Real browsers for the browser tests: Debian's chromium through playwright-core, started with
 * the flags this machine's closed network needs, and a static site for a built example.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { startServer, type RunningServer } from 'astrometry-net-server';

/** Headless chromium; without the background-networking flags it keeps dialling out and failing. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };

/** Serves a built site (`index.html` at `/`) on 127.0.0.1; nothing outside `dir`. */
export async function serveStatic(dir: string): Promise<{ server: Server; origin: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = join(dir, path === '/' ? 'index.html' : path);
    if (!file.startsWith(dir)) return void res.writeHead(403).end();
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch {
      return void res.writeHead(404).end();
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A built example in a browser: its site, the embedded server it talks to, and chromium. */
export interface ExampleRig {
  api: RunningServer;
  browser: Browser;
  /** The page's address with the server and key in its query, as `npm run example` prints it. */
  pageUrl: string;
  close(): Promise<void>;
}

/**
 * Builds `exampleDir` with vite, serves its `dist/`, starts the embedded server with the real
 * solver allowing the site's origin (CORS), and launches chromium.
 */
export async function startExample(exampleDir: string): Promise<ExampleRig> {
  await build({ configFile: join(exampleDir, 'vite.config.ts'), logLevel: 'warn' });
  const site = await serveStatic(join(exampleDir, 'dist'));
  const api = await startServer({ port: 0, solver: 'solve-field', cors: { origins: [site.origin] } });
  const browser = await launchChromium();
  return {
    api,
    browser,
    pageUrl: `${site.origin}/?api=${encodeURIComponent(api.url)}&key=${api.apiKeys[0]}`,
    async close() {
      await browser.close();
      await api.close();
      await site.close();
    },
  };
}
