/**
 * The README's "Embed in your own statechart" code, run verbatim (only the package specifier
 * pointed at the build) in a child process against the in-repo server: what a reader copies works.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServer, type RunningServer } from 'astrometry-net-server';

const root = fileURLToPath(new URL('..', import.meta.url));
let server: RunningServer;
let cwd: string;

beforeAll(async () => {
  server = await startServer({ port: 0, solver: 'simulated' });
  cwd = mkdtempSync(join(tmpdir(), 'readme-embed-'));
  copyFileSync(join(root, 'assets/sample.png'), join(cwd, 'm42.jpg'));
});
afterAll(async () => {
  await server?.close();
  rmSync(cwd, { recursive: true, force: true });
});

test("the README's embedding code solves and reaches onDone with the calibration, uploading once", async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const code = /<!-- embed:start -->\n```js\n([\s\S]*?)\n```\n<!-- embed:end -->/.exec(readme)?.[1];
  expect(code).toContain("from 'astrometry-net-client'");
  // Inside the repository, so that `xstate` resolves from its node_modules.
  const dir = join(root, 'test-artifacts');
  mkdirSync(dir, { recursive: true });
  const script = join(dir, 'readme-embed.mjs');
  writeFileSync(script, (code as string).replace("'astrometry-net-client'", JSON.stringify(join(root, 'dist/src/index.js'))));

  const child = spawn(process.execPath, [script], {
    cwd,
    env: { ...process.env, ASTROMETRY_API_URL: server.url, ASTROMETRY_API_KEY: server.apiKeys[0] as string },
  });
  let out = '';
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const settled = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      // The app stays in `showing`, waiting for RETRY: the line printed by onDone is the end.
      if (/\}\s*$/.test(out) || out.includes('failed')) resolve(out);
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  try {
    const text = await settled;
    expect(text).toMatch(/^solved \{[\s\S]*ra: [\d.]+,[\s\S]*dec: -?[\d.]+,/);
  } finally {
    child.kill();
  }
  expect(server.requests.map((r) => r.endpoint).filter((e) => e === 'upload' || e === 'login')).toEqual(['login', 'upload']);
});
