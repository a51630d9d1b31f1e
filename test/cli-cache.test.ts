/**
 * `astrometry-net solve` and its solve cache, run as a user runs it (the built bin, real files,
 * the in-repo server on 127.0.0.1 with the simulated solver): a renamed copy costs no request,
 * `--no-cache` uploads, a result file the cache does not hold is fetched by job id (no upload),
 * the cache folder is private, and every solve carries its quality report.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SOLVE_JSON_SCHEMA, type SolveJsonDocument } from '../src/cli/json-schema.js';
import { buildCli, FIXTURES, GOOD_KEY, runCli, startTestServer, type TestServer } from './helpers/cli-run.js';
import { validate } from './helpers/cli-schema.js';

let nova: TestServer;
let work: string;
let state: string;

beforeAll(async () => {
  await buildCli();
  nova = await startTestServer();
  work = mkdtempSync(join(tmpdir(), 'astrometry-net-cli-cache-'));
  state = join(work, 'state');
  copyFileSync(join(FIXTURES, 'small.png'), join(work, 'field.png'));
}, 120_000);

afterAll(async () => {
  await nova?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const solve = (input: string, out: string, ...extra: string[]) =>
  runCli(['solve', join(work, input), '--out', join(work, out), '--api-url', nova.url, '--api-key', GOOD_KEY, '--json', ...extra], {
    env: { XDG_STATE_HOME: state },
  });
const requests = () => nova.server.requests.length;

function documentOf(stdout: string): SolveJsonDocument {
  const doc = JSON.parse(stdout) as SolveJsonDocument;
  expect(validate(SOLVE_JSON_SCHEMA, doc)).toEqual([]);
  return doc;
}

describe('the solve cache', () => {
  test('a renamed copy is answered from the cache with no request; --no-cache uploads; the folder is private', async () => {
    const first = await solve('field.png', 'out1');
    expect(first.code, first.stderr).toBe(0);
    const one = documentOf(first.stdout).inputs[0];
    expect(one?.fromCache).toBe(false);
    expect(one?.quality?.matchedStars).toBeGreaterThan(0);
    expect(one?.quality?.suspect).toBe(false);

    copyFileSync(join(work, 'field.png'), join(work, 'renamed.png'));
    const before = requests();
    const second = await solve('renamed.png', 'out2');
    expect(second.code, second.stderr).toBe(0);
    expect(requests()).toBe(before);
    const two = documentOf(second.stdout).inputs[0];
    expect(two).toMatchObject({ status: 'success', fromCache: true, subid: one?.subid, jobId: one?.jobId, calibration: one?.calibration, quality: one?.quality });
    expect(second.stderr).toMatch(/from the cache: solved before as job \d+; not uploaded/);
    expect(second.stderr).toMatch(/1 answered from the solve cache/);
    // The WCS file written is the first run's, byte for byte.
    expect(readFileSync(join(work, 'out2', 'renamed.wcs.fits'))).toEqual(readFileSync(join(work, 'out1', 'field.wcs.fits')));

    const uploads = nova.uploads();
    const third = await solve('renamed.png', 'out3', '--no-cache');
    expect(third.code, third.stderr).toBe(0);
    expect(nova.uploads()).toBe(uploads + 1);
    expect(documentOf(third.stdout).inputs[0]?.fromCache).toBe(false);

    const dir = join(state, 'astrometry-net', 'solve-cache');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const names = readdirSync(dir);
    expect(names).toHaveLength(1);
    for (const name of names) expect(statSync(join(dir, name)).mode & 0o777).toBe(0o600);
  });

  test('a file the cache does not hold is fetched by the cached job id: no upload, no login', async () => {
    copyFileSync(join(work, 'field.png'), join(work, 'copy-with-corr.png'));
    const before = nova.server.requests.length;
    const run = await solve('copy-with-corr.png', 'out4', '--corr');
    expect(run.code, run.stderr).toBe(0);
    const doc = documentOf(run.stdout).inputs[0];
    expect(doc?.fromCache).toBe(true);
    expect(doc?.files.corr).toBeDefined();
    const made = nova.server.requests.slice(before).map((r) => r.endpoint);
    expect(made).not.toContain('upload');
    expect(made).not.toContain('login');
    // The job's status, its calibration, then the files: WCS and corr.
    expect(made).toEqual(['job', 'calibration', 'wcs_file', 'corr_file']);
  });

  test('with several --api-url, a cached job is asked of the server that solved it, not the first one listed', async () => {
    const other = await startTestServer();
    try {
      const own = join(work, 'state-two-servers');
      const run = (out: string, urls: string[], ...extra: string[]) =>
        runCli(['solve', join(work, 'field.png'), '--out', join(work, out), ...urls.flatMap((u) => ['--api-url', u]), '--api-key', GOOD_KEY, '--json', ...extra], {
          env: { XDG_STATE_HOME: own },
        });
      // Solved on `other` (listed first: a lone upload goes there).
      const first = await run('two1', [other.url, nova.url]);
      expect(first.code, first.stderr).toBe(0);
      expect(other.uploads()).toBe(1);
      const jobId = documentOf(first.stdout).inputs[0]?.jobId;

      // The same servers (the same cache), `nova` first; the corr file is not cached, so the job is asked for.
      const novaBefore = nova.server.requests.length;
      const otherBefore = other.server.requests.length;
      const second = await run('two2', [nova.url, other.url], '--corr');
      expect(second.code, second.stderr).toBe(0);
      const doc = documentOf(second.stdout).inputs[0];
      expect(doc).toMatchObject({ status: 'success', fromCache: true, jobId });
      expect(nova.server.requests.length).toBe(novaBefore);
      expect(other.server.requests.slice(otherBefore).map((r) => r.endpoint)).toEqual(['job', 'calibration', 'wcs_file', 'corr_file']);
    } finally {
      await other.close();
    }
  });
});
