/**
 * astroquery's AstrometryNet (Debian's python3-astroquery, run by /usr/bin/python3; see
 * scripts/install-astroquery.sh) solves through `astrometry-net serve` on the real solver,
 * unchanged: only its `server` and `api_key` settings point at us. The driver script is
 * test/python/astroquery_solve.py; it prints the WCS header astroquery returned, the centre and
 * scale computed from it, and every request astroquery made.
 *
 * What astroquery 0.4.6 does (astroquery/astrometry_net/core.py): POST /api/login and
 * /api/upload (multipart) or /api/url_upload (x/y lists in request-json) with `request-json`;
 * then every second GET /api/submissions/<subid> and, once a job id shows, GET
 * /api/jobs/<id>/info, until its `status` is success or failure; then GET /wcs_file/<id>
 * (no Referer), read as text into an astropy Header. Its `server` setting is the site root; it
 * is read once, when the module is imported.
 *
 * Nothing here is skipped: a missing solver or astroquery fails every test.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, cleanEnv, FIXTURES, ROOT } from './helpers/cli-run.js';
import { expectNear, randomApiKey, startServe, truthOf, type Serve } from './helpers/serve-process.js';

const PYTHON = process.env.ASTROQUERY_PYTHON ?? '/usr/bin/python3';
const SCRIPT = path.join(ROOT, 'test', 'python', 'astroquery_solve.py');
const API_KEY = randomApiKey();


interface SeenRequest {
  method: string;
  path: string;
  status: number;
  content_type: string | null;
  request_content_type: string | null;
  referer: string | null;
}

interface AstroqueryOutput {
  astroquery_version: string;
  url: string;
  api_url: string;
  requests: SeenRequest[];
  seconds: number;
  error?: string;
  solved?: boolean;
  header?: Record<string, string | number | boolean>;
  crval?: [number, number];
  centre?: { ra: number; dec: number };
  pixscale?: number;
  image_size?: [number, number];
}





/** serve's log from request `from` on, once it holds at least `count` requests (it is read asynchronously). */
async function loggedSince(s: Serve, from: number, count: number): Promise<{ method: string; path: string; status: number }[]> {
  for (let waited = 0; serverRequests(s.stderr()).length - from < count && waited < 3000; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return serverRequests(s.stderr()).slice(from);
}

/** The requests in serve's log (`METHOD /path STATUS Nms`, one line each), in order. */
function serverRequests(log: string): { method: string; path: string; status: number }[] {
  return [...log.matchAll(/^(GET|POST|PUT|DELETE|HEAD|OPTIONS) (\S+) (\d{3}) \d+ms$/gm)].map((m) => ({
    method: m[1] as string,
    path: m[2] as string,
    status: Number(m[3]),
  }));
}

const started = performance.now();
const timings: Record<string, number> = {};
let serve: Serve | undefined;
let home: string;

async function setUp(): Promise<void> {
  const solver = spawnSync('solve-field', ['--help'], { encoding: 'utf8' });
  if (solver.error) throw new Error(`solve-field is not installed (${solver.error.message}); run scripts/install-solver.sh`);
  home = await mkdtemp(path.join(tmpdir(), 'astroquery-test-home-'));
  const probe = spawnSync(PYTHON, ['-c', 'import astroquery.astrometry_net'], { encoding: 'utf8', env: pythonEnv() });
  if (probe.error || probe.status !== 0) {
    throw new Error(`${PYTHON} cannot import astroquery.astrometry_net; run scripts/install-astroquery.sh\n${probe.error?.message ?? probe.stderr}`);
  }
  await buildCli();
  serve = await startServe(API_KEY);
}

/** Set up once; every test awaits it, so a missing solver or astroquery fails each test. */
let ready: Promise<void>;
beforeAll(() => {
  ready = setUp();
  ready.catch(() => undefined);
});

afterAll(async () => {
  if (serve && serve.child.exitCode === null) serve.child.kill('SIGKILL');
  if (home) await rm(home, { recursive: true, force: true });
  console.log(`astroquery timings (ms): ${JSON.stringify({ ...timings, file: Math.round(performance.now() - started) })}`);
});

/** HOME and the XDG dirs in the test's temp dir: astropy's and astroquery's config and cache stay out of the user's. */
function pythonEnv(): NodeJS.ProcessEnv {
  return cleanEnv({
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONPATH: undefined,
    PYTHONHOME: undefined,
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
  });
}

/** Runs test/python/astroquery_solve.py with /usr/bin/python3, HOME and the XDG dirs in a temp dir. */
async function astroquery(label: string, args: string[], timeoutMs: number): Promise<{ out: AstroqueryOutput; stderr: string; code: number | null }> {
  const s = serve as Serve;
  const env = pythonEnv();
  const t0 = performance.now();
  const child = spawn(PYTHON, [SCRIPT, '--server', s.origin, '--api-key', API_KEY, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`astroquery_solve.py ran over ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  timings[label] = Math.round(performance.now() - t0);
  const last = stdout.trim().split('\n').pop() ?? '';
  let out: AstroqueryOutput;
  try {
    out = JSON.parse(last) as AstroqueryOutput;
  } catch {
    throw new Error(`astroquery_solve.py printed no JSON (exit ${code})\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  }
  return { out, stderr, code };
}

const endpoint = (p: string) => p.replace(/\/\d+/g, '/:id').replace(/\/$/, '');

/**
 * The requests astroquery made, checked against what the server logged for the same span:
 * login, the upload, submission polls until the job id, job info polls until the end, the WCS.
 */
function expectNovaFlow(seen: SeenRequest[], logged: { method: string; path: string; status: number }[], uploadPath: string): number {
  expect(logged.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(seen.map((r) => `${r.method} ${r.path} ${r.status}`));
  for (const r of seen) expect(r.status, `${r.method} ${r.path}`).toBe(200);
  const names = seen.map((r) => `${r.method} ${endpoint(r.path)}`);
  expect(names[0]).toBe('POST /api/login');
  expect(seen[0]?.request_content_type).toBe('application/x-www-form-urlencoded');
  expect(names[1]).toBe(`POST ${uploadPath}`);
  if (uploadPath === '/api/upload') expect(seen[1]?.request_content_type).toMatch(/^multipart\/form-data; boundary=/);
  for (const r of seen.slice(0, -1)) expect(r.content_type, `${r.method} ${r.path}`).toBe('text/plain');
  const polls = names.slice(2, -1);
  expect(polls.filter((n) => n === 'GET /api/submissions/:id').length).toBeGreaterThan(0);
  expect(polls.filter((n) => n === 'GET /api/jobs/:id/info').length).toBeGreaterThan(0);
  expect(polls.every((n) => n === 'GET /api/submissions/:id' || n === 'GET /api/jobs/:id/info')).toBe(true);
  expect(names.at(-1)).toBe('GET /wcs_file/:id');
  expect(seen.at(-1)?.content_type).toBe('application/fits');
  const jobIds = new Set(seen.map((r) => /^\/api\/jobs\/(\d+)\/info$/.exec(r.path)?.[1]).filter((id) => id !== undefined));
  expect(jobIds.size).toBe(1);
  const jobId = Number([...jobIds][0]);
  expect(seen.at(-1)?.path).toBe(`/wcs_file/${jobId}`);
  return jobId;
}

let smallJobId: number | undefined;

describe("astroquery's AstrometryNet against `astrometry-net serve --solver solve-field`", () => {
  it('solves small.png by upload: login, upload, polling and the WCS download', async () => {
    await ready;
    const s = serve as Serve;
    const truth = await truthOf('small');
    const before = serverRequests(s.stderr()).length;
    const { out, stderr, code } = await astroquery('small.png', ['--image', path.join(FIXTURES, 'small.png'), '--timeout', '45'], 55_000);
    expect(out.error, stderr).toBeUndefined();
    expect(code).toBe(0);
    // Configured as a user would: the site root in `server`; astroquery adds /api itself.
    expect(out.url).toBe(s.origin);
    expect(out.api_url).toBe(`${s.origin}/api`);
    expect(out.solved).toBe(true);

    const header = out.header as Record<string, unknown>;
    for (const k of ['CRVAL1', 'CRVAL2', 'CRPIX1', 'CRPIX2', 'CD1_1', 'CD1_2', 'CD2_1', 'CD2_2']) expect(typeof header[k], k).toBe('number');
    expect(String(header.CTYPE1)).toMatch(/^RA---TAN/);
    expect(out.crval).toEqual([header.CRVAL1, header.CRVAL2]);
    expect(out.image_size).toEqual([truth.width, truth.height]);
    const centre = out.centre as { ra: number; dec: number };
    expectNear(centre.ra, centre.dec, out.pixscale as number, truth);

    smallJobId = expectNovaFlow(out.requests, await loggedSince(s, before, out.requests.length), '/api/upload');
  });

  it('solves a source list (x/y sent in request-json to /api/url_upload, as astroquery does)', async () => {
    await ready;
    const s = serve as Serve;
    const truth = await truthOf('small');
    // Star positions: the axy file of the job above (or of a fresh solve of small.png).
    let jobId = smallJobId;
    if (jobId === undefined) {
      const first = await astroquery('small.png (for its axy)', ['--image', path.join(FIXTURES, 'small.png'), '--timeout', '45'], 55_000);
      jobId = Number(/\/wcs_file\/(\d+)$/.exec(first.out.requests.at(-1)?.path ?? '')?.[1]);
    }
    const axy = await fetch(`${s.origin}/axy_file/${jobId}`, { headers: { Referer: s.apiUrl } });
    expect(axy.status).toBe(200);
    expect(axy.headers.get('content-type')).toBe('application/fits');
    const xyPath = path.join(home, 'small.axy.fits');
    await writeFile(xyPath, Buffer.from(await axy.arrayBuffer()));

    const before = serverRequests(s.stderr()).length;
    const args = ['--xy', xyPath, '--width', String(truth.width), '--height', String(truth.height), '--timeout', '30'];
    const { out, stderr, code } = await astroquery('source list', args, 45_000);
    // nova's upload_common stores the x/y lists of any upload, url_upload included, as the
    // submission's file (original_filename "json-xy", a hash in the answer); the absent "url"
    // is then never fetched. The submission must not fail on a URL of None.
    const subid = Number(/\/api\/submissions\/(\d+)$/.exec(out.requests.find((r) => r.path.startsWith('/api/submissions/'))?.path ?? '')?.[1]);
    expect(subid).toBeGreaterThan(0);
    const submission = (await (await fetch(`${s.apiUrl}submissions/${subid}`)).json()) as { error_message?: string; jobs: (number | null)[] };
    expect(submission.error_message, 'nova solves x/y lists sent to /api/url_upload (upload_common keeps them as the file)').toBeUndefined();
    expect(out.error, stderr).toBeUndefined();
    expect(code).toBe(0);
    expect(out.solved).toBe(true);
    const centre = out.centre as { ra: number; dec: number };
    expectNear(centre.ra, centre.dec, out.pixscale as number, truth);
    const sourceJob = expectNovaFlow(out.requests, await loggedSince(s, before, out.requests.length), '/api/url_upload');
    const info = (await (await fetch(`${s.apiUrl}jobs/${sourceJob}/info`)).json()) as { original_filename: string };
    expect(info.original_filename).toBe('json-xy');
  });

  it('serve stops on SIGTERM with exit code 0', async () => {
    await ready;
    const s = serve as Serve;
    s.child.kill('SIGTERM');
    const { code, signal } = await s.exit;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });
});
