/**
 * Running the built CLI as a user does: `node dist/src/cli/main.js ...` in a child process,
 * against a real nova-compatible server on 127.0.0.1 (the simulated solver).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer } from 'astrometry-net-server';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
export const FIXTURES = join(ROOT, 'test', 'fixtures');

const STAMP = join(ROOT, 'dist', '.cli-test-build');
const LOCK = join(ROOT, 'dist', '.cli-test-build.lock');

/** Each CLI run's own XDG state folder lies under this one, removed when the test process ends. */
const STATE_ROOT = join(tmpdir(), `astrometry-net-cli-test-state-${process.pid}`);
let stateRuns = 0;
process.on('exit', () => rmSync(STATE_ROOT, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Builds dist/ once per vitest run: the CLI test files run in parallel workers of one vitest
 * process, so the first takes a lock and builds, and the others wait for its stamp. Type errors
 * elsewhere in the tree (work in progress) do not stop tsc from emitting.
 */
export async function buildCli(): Promise<void> {
  const token = String(process.ppid);
  const built = () => existsSync(STAMP) && readFileSync(STAMP, 'utf8') === token && existsSync(CLI);
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  for (;;) {
    if (built()) return;
    try {
      mkdirSync(LOCK);
    } catch {
      // Someone else builds; a lock older than 3 minutes is left over from a killed run.
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > 180_000) rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
      await sleep(200);
      continue;
    }
    try {
      if (built()) return;
      const started = Date.now();
      const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      if (!existsSync(CLI) || statSync(CLI).mtimeMs < started - 1000) {
        throw new Error(`tsc did not emit ${CLI}:\n${r.stdout}\n${r.stderr}`);
      }
      // As `npm run build` does: the schema file is generated from the built module.
      spawnSync(process.execPath, [join(ROOT, 'scripts', 'write-schema.mjs')], { cwd: ROOT, encoding: 'utf8' });
      const own = `${r.stdout}`.split('\n').filter((l) => l.startsWith('src/cli/'));
      if (own.length > 0) throw new Error(`The CLI does not type-check:\n${own.join('\n')}`);
      writeFileSync(STAMP, token);
      return;
    } finally {
      rmSync(LOCK, { recursive: true, force: true });
    }
  }
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

/** An environment with no key from the developer's machine (no ASTROMETRY_*, an empty config home) and no colour setting. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // No key from the developer's machine, and no colour setting from the terminal running the tests.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ASTROMETRY_') && k !== 'FORCE_COLOR' && k !== 'NO_COLOR') env[k] = v;
  env.XDG_CONFIG_HOME = join(tmpdir(), 'astrometry-net-cli-test-no-config');
  // A solve cache of its own for every run (none shared with the developer's, nor between runs
  // of a test that expects an upload); a test of the cache passes XDG_STATE_HOME itself.
  env.XDG_STATE_HOME = join(STATE_ROOT, String(++stateRuns));
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function spawnCli(args: readonly string[], options: RunOptions = {}): ChildProcess & { result: Promise<CliResult>; output: () => { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const result = new Promise<CliResult>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI timed out: ${args.join(' ')}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
  return Object.assign(child, { result, output: () => ({ stdout, stderr }) });
}

export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return spawnCli(args, options).result;
}

export interface TestServer {
  server: RunningServer;
  url: string;
  key: string;
  dir: string;
  /** Upload requests (file, source list or URL) the server received so far. */
  uploads(): number;
  close(): Promise<void>;
}

export const GOOD_KEY = 'clitestkeyabcdef';

export async function startTestServer(simulated = { ingestMs: 30, queueMs: 30, solveMs: 150 }): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'astrometry-net-cli-test-'));
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    apiKeys: [GOOD_KEY],
    solver: 'simulated',
    dataDir: join(dir, 'server'),
    simulated,
    concurrency: 4,
    // URL inputs in these tests are served from this machine.
    allowPrivateUrls: true,
  });
  return {
    server,
    url: server.url,
    key: GOOD_KEY,
    dir,
    uploads: () => server.requests.filter((r) => r.endpoint === 'upload' || r.endpoint === 'url_upload').length,
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** GET a JSON endpoint of the test server (the test checks the server's side; the CLI never does this). */
export async function serverJson(server: TestServer, path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.url}${path}`);
  return JSON.parse(await response.text()) as Record<string, unknown>;
}
