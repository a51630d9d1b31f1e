/**
 * serve keeps what it stores to its own user, and its secrets off the command line: run as a
 * user runs it (the built command), in a data dir that already exists with mode 0755, with the
 * API key in a file and nowhere in the process's arguments.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { Client } from 'astrometry-net-client';
import { FIXTURES } from '../../test/helpers/cli-run.js';
import { randomApiKey, startServeWith, type Serve } from '../../test/helpers/serve-process.js';

const root = mkdtempSync(join(tmpdir(), 'anc-private-'));
let serve: Serve | undefined;

afterAll(async () => {
  serve?.child.kill('SIGTERM');
  await serve?.exit;
  rmSync(root, { recursive: true, force: true });
});

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => [join(dir, e.name), ...(e.isDirectory() ? walk(join(dir, e.name)) : [])]);
}

test('in an existing 0755 data dir, nothing serve creates is readable by other users, and the key is not in its arguments', async () => {
  const dataDir = join(root, 'data');
  mkdirSync(dataDir, { mode: 0o755 });
  const apiKey = randomApiKey();
  const keysFile = join(root, 'keys');
  writeFileSync(keysFile, `${apiKey}\n`, { mode: 0o600 });
  serve = await startServeWith(['--port', '0', '--solver', 'simulated', '--data-dir', dataDir, '--api-keys-file', keysFile]);

  const result = await new Client({ apiKey, apiUrl: serve.apiUrl, polling: { minIntervalMs: 0 } }).solve(join(FIXTURES, 'small.png'));
  expect(result.calibration.ra).toBeTypeOf('number');
  await result.wcs();

  const created = walk(dataDir);
  expect(created.length).toBeGreaterThan(5);
  expect(created.some((p) => p.endsWith('.sqlite'))).toBe(true);
  const open = created.filter((p) => (statSync(p).mode & 0o077) !== 0).map((p) => `${p.slice(dataDir.length)} ${(statSync(p).mode & 0o777).toString(8)}`);
  expect(open).toEqual([]);

  const argv = readFileSync(`/proc/${serve.child.pid}/cmdline`, 'utf8');
  expect(argv).not.toContain(apiKey);
  expect(serve.stderr()).not.toContain(apiKey);
  expect(serve.stderr()).not.toMatch(/warning/);
});
