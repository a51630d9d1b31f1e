/**
 * Long polling of the status reads on a real server on 127.0.0.1 (notes/long-poll.md):
 * `?wait=&seen=` holds the answer until the body changes, `x-long-poll` / `x-state` headers
 * mark it, and everything else answers exactly as nova does. The solver is a backend whose
 * solve ends only when the test says so, so "held until the change" needs no timing guesses.
 */
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { parseServeArgs } from '../src/cli.js';
import { startServer, type RunningServer, type ServerOptions, type SolverBackend } from '../src/index.js';
import { encodePng } from '../src/render.js';
import { until } from '../../test/helpers/until.js';

const KEY = 'longpolllongpoll';
const servers: RunningServer[] = [];

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** A solver whose solves end when `release()` is called. */
function gatedSolver(): SolverBackend & { release(): void } {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  return {
    name: 'gated',
    release: () => open(),
    async solve({ signal }) {
      await Promise.race([gate, new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }))]);
      return { status: 'success', files: {}, tags: [], machineTags: [], objectsInField: [] };
    },
  };
}

async function start(opts: ServerOptions = {}): Promise<RunningServer> {
  const s = await startServer({ port: 0, apiKeys: [KEY], solver: 'simulated', simulated: { ingestMs: 5, queueMs: 5, solveMs: 20 }, ...opts });
  servers.push(s);
  return s;
}

async function submit(s: RunningServer): Promise<number> {
  const login = await fetch(s.url + 'login', { method: 'POST', body: new URLSearchParams({ 'request-json': JSON.stringify({ apikey: KEY }) }) });
  const { session } = (await login.json()) as { session: string };
  const form = new FormData();
  form.set('request-json', JSON.stringify({ session }));
  const data = new Uint8Array(32 * 32).map((_, i) => (i * 7) & 0xff);
  form.set('file', new Blob([encodePng({ width: 32, height: 32, channels: 1, data }) as Uint8Array<ArrayBuffer>]), 'field.png');
  const r = (await (await fetch(s.url + 'upload', { method: 'POST', body: form })).json()) as { subid: number };
  return r.subid;
}

/** About five seconds, polled every 10 ms. */
const QUICK = { timeoutMs: 5000, intervalMs: 10 };

const token = (body: string) => createHash('sha1').update(body, 'utf8').digest('hex').slice(0, 16);

/** A job id whose job is `solving` and stays so until the solver is released. */
async function solvingJob(s: RunningServer): Promise<number> {
  const subid = await submit(s);
  const sub = await until(
    'a job for the submission',
    async () => (await (await fetch(`${s.url}submissions/${subid}`)).json()) as { jobs: (number | null)[] },
    (v) => typeof v.jobs[0] === 'number',
    QUICK,
  );
  const jobId = sub.jobs[0] as number;
  await until('the job to be solving', async () => (await fetch(`${s.url}jobs/${jobId}`)).text(), (t) => t === '{"status": "solving"}', QUICK);
  return jobId;
}

/** Whether the promise is still pending after `ms`. */
async function pendingAfter(p: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol('pending');
  const v = await Promise.race([p, new Promise((r) => setTimeout(() => r(marker), ms))]);
  return v === marker;
}

describe('long polling of status reads', () => {
  it('without wait: the answer and headers are exactly nova\'s', async () => {
    const s = await start();
    const subid = await submit(s);
    for (const path of [`submissions/${subid}`, `submissions/${subid}/`]) {
      const r = await fetch(s.url + path);
      expect(r.status).toBe(200);
      expect(r.headers.get('x-long-poll')).toBeNull();
      expect(r.headers.get('x-state')).toBeNull();
      await r.text();
    }
    for (const bad of ['0', '-1', 'abc', '1.5', '']) {
      const r = await fetch(`${s.url}submissions/${subid}?wait=${bad}`);
      expect(r.headers.get('x-long-poll'), `wait=${bad}`).toBeNull();
      await r.text();
    }
  });

  it('with wait and no seen (or a different seen): answered at once with x-long-poll and x-state of the body', async () => {
    const solver = gatedSolver();
    const s = await start({ solver, longPollMaxSeconds: 20 });
    const jobId = await solvingJob(s);
    for (const query of ['?wait=30', '?wait=30&seen=0000000000000000', '?wait=5&seen=']) {
      const r = await fetch(`${s.url}jobs/${jobId}/${query}`);
      const body = await r.text();
      expect(body).toBe('{"status": "solving"}');
      expect(r.headers.get('x-state')).toBe(token(body));
      expect(r.headers.get('x-long-poll')).toBe(query.startsWith('?wait=5') ? '5' : '20');
    }
    expect(s.heldRequests).toBe(0);
    solver.release();
  });

  it('with seen equal to the current state: held until the job changes, then answered with the new state', async () => {
    const solver = gatedSolver();
    const s = await start({ solver });
    const jobId = await solvingJob(s);
    const seen = token('{"status": "solving"}');
    const before = s.requests.length;
    const answer = fetch(`${s.url}jobs/${jobId}?wait=60&seen=${seen}`).then(async (r) => ({ r, body: await r.text() }));
    expect(await pendingAfter(answer, 400)).toBe(true);
    expect(s.heldRequests).toBe(1);
    const released = Date.now();
    solver.release();
    const { r, body } = await answer;
    // Woken by the in-process notification, not the 1 s fallback re-check.
    expect(Date.now() - released).toBeLessThan(900);
    expect(body).toBe('{"status": "success"}');
    expect(r.headers.get('x-state')).toBe(token(body));
    expect(r.headers.get('x-long-poll')).toBe('60');
    expect(s.requests.length - before).toBe(1);
    expect(s.heldRequests).toBe(0);
  });

  it('holds a submission read until a job appears', async () => {
    const solver = gatedSolver();
    // Ingestion takes 600 ms: the first answer has no job yet.
    const s = await start({ solver, simulated: { ingestMs: 600, queueMs: 5 } });
    const subid = await submit(s);
    const first = await fetch(`${s.url}submissions/${subid}?wait=30`);
    const firstBody = await first.text();
    expect(firstBody).toContain('"jobs": []');
    const held = await fetch(`${s.url}submissions/${subid}?wait=30&seen=${first.headers.get('x-state')}`);
    const heldBody = await held.text();
    expect(heldBody).not.toBe(firstBody);
    expect(held.headers.get('x-state')).toBe(token(heldBody));
    solver.release();
  });

  it('until=done holds a job read without a token until the job ends, skipping nothing else; an unknown milestone does not hold', async () => {
    const solver = gatedSolver();
    const s = await start({ solver, longPollMaxSeconds: 20 });
    const jobId = await solvingJob(s);
    const unknown = await fetch(`${s.url}jobs/${jobId}?wait=5&until=coffee`);
    expect(await unknown.text()).toBe('{"status": "solving"}');
    const held = fetch(`${s.url}jobs/${jobId}?wait=20&until=done`).then(async (r) => ({ body: await r.text(), hold: r.headers.get('x-long-poll') }));
    expect(await pendingAfter(held, 300)).toBe(true);
    expect(s.heldRequests).toBe(1);
    solver.release();
    expect(await held).toEqual({ body: '{"status": "success"}', hold: '20' });
  });

  it('until=job holds a submission read until a job appears', async () => {
    const s = await start({ simulated: { ingestMs: 400, queueMs: 5, solveMs: 20 } });
    const subid = await submit(s);
    const r = await fetch(`${s.url}submissions/${subid}?wait=20&until=job`);
    const body = JSON.parse(await r.text()) as { jobs: (number | null)[] };
    expect(body.jobs.some((j) => j !== null)).toBe(true);
  });

  it('never holds longer than the server maximum, and then answers the unchanged state', async () => {
    const solver = gatedSolver();
    const s = await start({ solver, longPollMaxSeconds: 1 });
    const jobId = await solvingJob(s);
    const seen = token('{"status": "solving"}');
    const t0 = Date.now();
    const r = await fetch(`${s.url}jobs/${jobId}?wait=600&seen=${seen}`);
    const body = await r.text();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(body).toBe('{"status": "solving"}');
    expect(r.headers.get('x-long-poll')).toBe('1');
    expect(r.headers.get('x-state')).toBe(seen);
    solver.release();
  });

  it('a client that disconnects while held frees the hold', async () => {
    const solver = gatedSolver();
    const s = await start({ solver });
    const jobId = await solvingJob(s);
    const ctl = new AbortController();
    const answer = fetch(`${s.url}jobs/${jobId}?wait=60&seen=${token('{"status": "solving"}')}`, { signal: ctl.signal });
    await until('one held request', async () => s.heldRequests, (n) => n === 1, QUICK);
    ctl.abort();
    await expect(answer).rejects.toThrow();
    await until('no held request', async () => s.heldRequests, (n) => n === 0, QUICK);
    solver.release();
  });

  it('an unknown id is the HTML 404 at once, without long-poll headers', async () => {
    const s = await start();
    const t0 = Date.now();
    for (const path of ['jobs/999999', 'submissions/999999']) {
      const r = await fetch(`${s.url}${path}?wait=60&seen=${token('{"status": "solving"}')}`);
      expect(r.status).toBe(404);
      expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(r.headers.get('x-long-poll')).toBeNull();
      await r.text();
    }
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('longPollMaxSeconds 0 disables it: no hold, no headers', async () => {
    const solver = gatedSolver();
    const s = await start({ solver, longPollMaxSeconds: 0 });
    const jobId = await solvingJob(s);
    const r = await fetch(`${s.url}jobs/${jobId}?wait=60&seen=${token('{"status": "solving"}')}`);
    expect(await r.text()).toBe('{"status": "solving"}');
    expect(r.headers.get('x-long-poll')).toBeNull();
    expect(r.headers.get('x-state')).toBeNull();
    solver.release();
  });

  it('injected faults apply before the hold', async () => {
    const solver = gatedSolver();
    const s = await start({ solver });
    const jobId = await solvingJob(s);
    s.faults.inject({ endpoint: 'job', kind: 'status', status: 502 });
    const r = await fetch(`${s.url}jobs/${jobId}?wait=60&seen=${token('{"status": "solving"}')}`);
    expect(r.status).toBe(502);
    expect(r.headers.get('x-long-poll')).toBeNull();
    await r.text();
    solver.release();
  });

  it('closing the server answers held reads instead of waiting for them', async () => {
    const solver = gatedSolver();
    const s = await start({ solver });
    const jobId = await solvingJob(s);
    const answer = fetch(`${s.url}jobs/${jobId}?wait=600&seen=${token('{"status": "solving"}')}`).then((r) => r.text());
    await until('one held request', async () => s.heldRequests, (n) => n === 1, QUICK);
    await s.close();
    expect(await answer).toBe('{"status": "solving"}');
    solver.release();
  });

  it('serve --long-poll-max takes 0..86400 seconds', () => {
    expect(parseServeArgs(['--long-poll-max', '0']).longPollMaxSeconds).toBe(0);
    expect(parseServeArgs(['--long-poll-max=25']).longPollMaxSeconds).toBe(25);
    expect(parseServeArgs([]).longPollMaxSeconds).toBeUndefined();
    for (const bad of ['-1', '1.5', 'x', '86401']) expect(() => parseServeArgs(['--long-poll-max', bad]), bad).toThrow(/--long-poll-max/);
  });
});
