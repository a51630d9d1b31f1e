/**
 * Submissions and jobs over time: timestamps as "None", `jobs: [null]` while waiting for a
 * slot, job status progression, calibration/info shapes, ingestion errors, worker restarts
 * with new job ids, and persistence across a server restart on the same dataDir.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer, type ServerOptions } from '../src/index.js';
import { encodePng } from '../src/render.js';

const KEY = 'qwertyuiopasdfgh';
const TS = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?$/;
const servers: RunningServer[] = [];

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(opts: ServerOptions = {}): Promise<RunningServer> {
  const s = await startServer({ port: 0, apiKeys: [KEY], solver: 'simulated', simulated: { ingestMs: 5, queueMs: 5, solveMs: 30 }, ...opts });
  servers.push(s);
  return s;
}

function png(w: number, h: number, seed = 0): Uint8Array {
  const data = new Uint8Array(w * h).map((_, i) => (i * 7 + seed) & 0xff);
  return encodePng({ width: w, height: h, channels: 1, data });
}

async function api(s: RunningServer, path: string, json?: object): Promise<string> {
  const init: RequestInit = json ? { method: 'POST', body: new URLSearchParams({ 'request-json': JSON.stringify(json) }) } : {};
  return (await fetch(s.url + path, init)).text();
}

async function getJson<T = Record<string, unknown>>(s: RunningServer, path: string): Promise<T> {
  const r = await fetch(s.url + path);
  expect(r.headers.get('content-type')).toBe('text/plain');
  return JSON.parse(await r.text()) as T;
}

async function login(s: RunningServer): Promise<string> {
  return (JSON.parse(await api(s, 'login', { apikey: KEY })) as { session: string }).session;
}

async function upload(s: RunningServer, session: string, name: string | null, bytes?: Uint8Array, extra: object = {}): Promise<number> {
  const form = new FormData();
  form.set('request-json', JSON.stringify({ session, ...extra }));
  if (name !== null && bytes) form.set('file', new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  const text = await (await fetch(s.url + 'upload', { method: 'POST', body: form })).text();
  const r = JSON.parse(text) as { status: string; subid: number };
  expect(r.status, text).toBe('success');
  return r.subid;
}

interface SubStatus {
  user: number;
  processing_started: string;
  processing_finished: string;
  user_images: number[];
  images: number[];
  jobs: (number | null)[];
  job_calibrations: [number, number][];
  error_message?: string;
}

async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out; last value: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

const sub = (s: RunningServer, id: number) => getJson<SubStatus>(s, `submissions/${id}`);
const jobStatus = async (s: RunningServer, id: number) => (await getJson<{ status: string }>(s, `jobs/${id}`)).status;

describe('submission and job progression', () => {
  it('shows "None" timestamps and empty lists while queued, then ingestion, then a job', async () => {
    const s = await start({ simulated: { ingestMs: 3000, queueMs: 5, solveMs: 30 } });
    const session = await login(s);
    // Four ingestion workers: the fifth submission has to wait, unstarted.
    const ids = (await Promise.all([0, 1, 2, 3, 4].map((i) => upload(s, session, `img${i}.png`, png(40, 30, i))))).sort((a, b) => a - b);
    const raw = await (await fetch(s.url + `submissions/${ids[4]}`)).text();
    expect(raw).toBe(
      '{"user": 1, "processing_started": "None", "processing_finished": "None", "user_images": [], "images": [], "jobs": [], "job_calibrations": []}',
    );
    const ingesting = await sub(s, ids[0] as number);
    expect(ingesting.processing_started).toMatch(TS);
    expect(ingesting.processing_finished).toBe('None');
    const done = await waitFor(() => sub(s, ids[0] as number), (v) => v.job_calibrations.length === 1, 15_000);
    expect(done.processing_started).toMatch(TS);
    expect(done.processing_finished).toMatch(TS);
    expect(done.processing_finished > done.processing_started).toBe(true);
    expect(done.user_images).toHaveLength(1);
    expect(done.images).toHaveLength(1);
    expect(done.images[0]).not.toBe(done.user_images[0]);
    expect(done.job_calibrations[0]?.[0]).toBe(done.jobs[0]);
    expect('error_message' in done).toBe(false);
  });

  it('holds jobs at [null] beyond the concurrency limit and walks processing → solving → success', async () => {
    const s = await start({ concurrency: 1, simulated: { ingestMs: 5, queueMs: 400, solveMs: 400 } });
    const session = await login(s);
    const a = await upload(s, session, 'a.png', png(64, 48, 1));
    const b = await upload(s, session, 'b.png', png(64, 48, 2));
    const first = await waitFor(() => sub(s, a), (v) => typeof v.jobs[0] === 'number');
    const jobA = first.jobs[0] as number;
    expect(await jobStatus(s, jobA)).toBe('processing');
    const waiting = await waitFor(() => sub(s, b), (v) => v.user_images.length === 1);
    expect(waiting.jobs).toEqual([null]);
    expect((await fetch(s.url + `submissions/${b}`).then((r) => r.text())).includes('"jobs": [null]')).toBe(true);
    await waitFor(() => jobStatus(s, jobA), (st) => st === 'solving');
    expect((await sub(s, b)).jobs).toEqual([null]);
    await waitFor(() => jobStatus(s, jobA), (st) => st === 'success', 3000);
    const second = await waitFor(() => sub(s, b), (v) => typeof v.jobs[0] === 'number');
    expect(second.jobs[0]).not.toBe(jobA);
  });

  it('never runs more solves than the concurrency limit', async () => {
    const s = await start({ concurrency: 2, simulated: { ingestMs: 5, queueMs: 5, solveMs: 400 } });
    const session = await login(s);
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await upload(s, session, `c${i}.png`, png(32, 32, 10 + i)));
    let maxActive = 0;
    let sawQueued = false;
    const end = Date.now() + 4000;
    for (;;) {
      const subs = await Promise.all(ids.map((id) => sub(s, id)));
      const jobIds = subs.flatMap((v) => v.jobs).filter((j): j is number => typeof j === 'number');
      const states = await Promise.all(jobIds.map((j) => jobStatus(s, j)));
      maxActive = Math.max(maxActive, states.filter((st) => st === 'processing' || st === 'solving').length);
      if (subs.some((v) => v.jobs.length === 1 && v.jobs[0] === null)) sawQueued = true;
      if (states.length === 4 && states.every((st) => st === 'success')) break;
      if (Date.now() > end) throw new Error('jobs did not finish');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(maxActive).toBe(2);
    expect(sawQueued).toBe(true);
  });

  it('serves calibration, info, tags for a solved job in nova\'s shapes', async () => {
    const s = await start();
    const session = await login(s);
    // Gzipped uploads are unpacked and lose the .gz suffix, as nova does.
    const id = await upload(s, session, 'm31.png.gz', gzipSync(png(100, 80, 3)));
    const st = await waitFor(() => sub(s, id), (v) => v.job_calibrations.length === 1);
    const job = st.jobs[0] as number;
    const calText = await (await fetch(s.url + `jobs/${job}/calibration`)).text();
    expect(calText).toMatch(
      /^\{"ra": -?\d+\.\d+(e[-+]\d+)?, "dec": -?\d+\.\d+(e[-+]\d+)?, "width_arcsec": [\d.e+-]+, "height_arcsec": [\d.e+-]+, "radius": [\d.e+-]+, "pixscale": [\d.e+-]+, "orientation": -?[\d.e+-]+, "parity": -?1\.0\}$/,
    );
    const cal = JSON.parse(calText) as { pixscale: number; width_arcsec: number; height_arcsec: number };
    expect(cal.width_arcsec).toBeCloseTo(cal.pixscale * 100, 6);
    expect(cal.height_arcsec).toBeCloseTo(cal.pixscale * 80, 6);
    const info = await getJson<Record<string, unknown>>(s, `jobs/${job}/info`);
    expect(Object.keys(info)).toEqual(['objects_in_field', 'machine_tags', 'tags', 'status', 'original_filename', 'calibration']);
    expect(info['status']).toBe('success');
    expect(info['original_filename']).toBe('m31.png');
    expect(Object.keys(info['calibration'] as object)).toEqual(['ra', 'dec', 'radius', 'pixscale', 'orientation', 'parity']);
    const tags = await getJson<{ tags: string[] }>(s, `jobs/${job}/machine_tags`);
    expect(tags.tags.length).toBeGreaterThan(0);
    expect(await getJson(s, `jobs/${job}/annotations?nbright=5`)).toEqual({ annotations: [] });
    expect((await fetch(s.url + `jobs/${job}/annotations?nbright=x`)).status).toBe(500);
    const byTag = await getJson<{ job_ids: number[] }>(s, `jobs_by_tag?query=${encodeURIComponent(tags.tags[0] ?? '')}&exact=1`);
    expect(byTag.job_ids).toEqual([job]);
    expect((await getJson<{ job_ids: number[] }>(s, 'jobs_by_tag?query=nothing-like-this')).job_ids).toEqual([]);
    expect(JSON.parse(await api(s, 'myjobs', { session })).jobs).toContain(job);
    expect(JSON.parse(await api(s, 'submission_images', { session, subid: id }))).toEqual({ status: 'success', image_ids: st.user_images });
  });

  it('jobs_by_tag lists newest first, as nova does, by substring and by exact tag', async () => {
    const s = await start();
    const session = await login(s);
    const jobs: number[] = [];
    // The same image twice (one exact tag, two jobs), then another.
    for (const seed of [1, 1, 2]) {
      const id = await upload(s, session, `field-${seed}.png`, png(60, 50, seed));
      const st = await waitFor(() => sub(s, id), (v) => v.job_calibrations.length === 1);
      jobs.push(st.jobs[0] as number);
    }
    const newestFirst = [...jobs].sort((a, b) => b - a);
    expect((await getJson<{ job_ids: number[] }>(s, 'jobs_by_tag?query=SIMULATED FIELD')).job_ids).toEqual(newestFirst);
    const tag = (await getJson<{ tags: string[] }>(s, `jobs/${jobs[0]}/tags`)).tags[0] ?? '';
    expect((await getJson<{ job_ids: number[] }>(s, `jobs_by_tag?query=${encodeURIComponent(tag)}&exact=1`)).job_ids).toEqual([jobs[1], jobs[0]]);
  });

  it('fails jobs whose file name says "noise" and reports no calibration', async () => {
    const s = await start();
    const session = await login(s);
    const id = await upload(s, session, 'noise.png', png(20, 20, 4));
    const st = await waitFor(() => sub(s, id), (v) => typeof v.jobs[0] === 'number');
    const job = st.jobs[0] as number;
    await waitFor(() => jobStatus(s, job), (x) => x === 'failure');
    expect(await (await fetch(s.url + `jobs/${job}/calibration`)).text()).toBe(`{"error": "no calibration data available for job ${job}"}`);
    expect(await (await fetch(s.url + `jobs/${job}/annotations`)).text()).toBe(`{"error": "no calibration data available for job ${job}"}`);
    const info = await getJson<Record<string, unknown>>(s, `jobs/${job}/info`);
    expect(info['status']).toBe('failure');
    expect('calibration' in info).toBe(false);
    expect((await sub(s, id)).job_calibrations).toEqual([]);
  });

  it('solves x/y source lists ("json-xy") and fails non-positive ones at ingestion', async () => {
    const s = await start();
    const session = await login(s);
    const good = await upload(s, session, null, undefined, { x: [10.5, 200, 30], y: [5, 40.2, 100], image_width: 300, image_height: 200 });
    const st = await waitFor(() => sub(s, good), (v) => v.job_calibrations.length === 1);
    const info = await getJson<{ original_filename: string }>(s, `jobs/${st.jobs[0]}/info`);
    expect(info.original_filename).toBe('json-xy');
    const cal = await getJson<{ width_arcsec: number; pixscale: number }>(s, `jobs/${st.jobs[0]}/calibration`);
    expect(cal.width_arcsec / cal.pixscale).toBeCloseTo(300, 6); // image_width overrides ceil(max x)
    const bad = await upload(s, session, null, undefined, { x: [-1, -2], y: [3, 4] });
    const failed = await waitFor(() => sub(s, bad), (v) => v.error_message !== undefined);
    expect(failed.error_message).toContain('Source list must contain POSITIVE x,y coordinates');
    expect(failed.user_images).toEqual([]);
    expect(failed.jobs).toEqual([]);
  });

  it('reports unsupported content and a missing file part as error_message (≤255 chars)', async () => {
    const s = await start();
    const session = await login(s);
    const junk = await upload(s, session, 'photo.jpg', new Uint8Array(3000).map((_, i) => (i * 31) % 251));
    const j = await waitFor(() => sub(s, junk), (v) => v.error_message !== undefined);
    expect(j.error_message).toContain("This file's type is not supported.");
    expect(j.error_message?.length).toBeLessThanOrEqual(255);
    expect(j.processing_finished).toMatch(TS);
    expect(j.jobs).toEqual([]);
    const none = await upload(s, session, null);
    const n = await waitFor(() => sub(s, none), (v) => v.error_message !== undefined);
    expect(n.error_message).toContain("Invalid URL 'None': No scheme supplied");
  });
});

describe('url_upload fetching', () => {
  let files: Server;
  let base = '';
  let served = 0;
  afterAll(() => new Promise<void>((r) => files.close(() => r())));

  it('fetches the URL after answering, names it by the last path segment, reports HTTP errors', async () => {
    files = createServer((req, res) => {
      served++;
      if (req.url === '/images/andromeda.png') {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(png(50, 50, 9));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('nope');
      }
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    // The files are on this machine: only --allow-private-urls lets the server fetch them.
    const s = await start({ allowPrivateUrls: true });
    const session = await login(s);
    const ok = JSON.parse(await api(s, 'url_upload', { session, url: `${base}/images/andromeda.png` })) as { subid: number };
    const st = await waitFor(() => sub(s, ok.subid), (v) => v.job_calibrations.length === 1);
    expect((await getJson<{ original_filename: string }>(s, `jobs/${st.jobs[0]}/info`)).original_filename).toBe('andromeda.png');
    const missing = JSON.parse(await api(s, 'url_upload', { session, url: `${base}/gone.png` })) as { subid: number };
    const m = await waitFor(() => sub(s, missing.subid), (v) => v.error_message !== undefined);
    expect(m.error_message).toContain('404 Client Error');
    const small = await start({ urlFetch: { maxBytes: 100 }, allowPrivateUrls: true });
    const smallSession = await login(small);
    const tooBig = JSON.parse(await api(small, 'url_upload', { session: smallSession, url: `${base}/images/andromeda.png` })) as { subid: number };
    const tb = await waitFor(() => sub(small, tooBig.subid), (v) => v.error_message !== undefined);
    expect(tb.error_message).toContain('limit of 100 bytes');
    const refused = JSON.parse(await api(s, 'url_upload', { session, url: 'ftp://example.invalid/x.fits' })) as { subid: number };
    const r = await waitFor(() => sub(s, refused.subid), (v) => v.error_message !== undefined);
    expect(r.error_message).toContain('No connection adapters were found');
  });

  it("refuses this machine's own addresses, loopback, private and link-local ones, and IPv6 forms wrapping them, names resolving to them included, by default", async () => {
    const s = await start();
    const session = await login(s);
    const port = new URL(base).port;
    const before = served;
    // An address of one of this machine's own interfaces (not loopback): private or not, it is this host.
    const own = Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .find((a) => a.family === 'IPv4' && !a.internal)?.address;
    for (const url of [
      ...(own ? [`http://${own}:${port}/x.png`] : []),
      `http://[::7f00:1]:${port}/x.png`,
      `http://[64:ff9b::7f00:1]:${port}/x.png`,
      `http://[2002:7f00:1::]:${port}/x.png`,
      'http://192.0.2.10/x.png',
      `${base}/images/andromeda.png`,
      `http://localhost:${port}/images/andromeda.png`,
      `http://[::1]:${port}/x.png`,
      `http://[::ffff:127.0.0.1]:${port}/x.png`,
      'http://10.1.2.3/x.png',
      'http://192.168.0.1/x.png',
      'http://169.254.169.254/latest/meta-data/',
    ]) {
      const { subid } = JSON.parse(await api(s, 'url_upload', { session, url })) as { subid: number };
      const st = await waitFor(() => sub(s, subid), (v) => v.error_message !== undefined);
      expect(st.error_message, url).toMatch(/Failed to establish a new connection: refused to fetch from .* is this machine's, or a loopback, link-local, private or reserved address \(serve --allow-private-urls allows it\)/s);
      expect(st.jobs).toEqual([]);
    }
    expect(served).toBe(before);
  });
});

describe('retention', () => {
  it('deletes finished submissions older than maxAgeMs, with their jobs', async () => {
    const s = await start({ retention: { maxAgeMs: 200 } });
    const session = await login(s);
    const id = await upload(s, session, 'old.png', png(20, 20, 8));
    const st = await waitFor(() => sub(s, id), (v) => v.job_calibrations.length === 1);
    // The sweep runs every max(1 s, maxAgeMs / 2).
    await waitFor(() => fetch(s.url + `submissions/${id}`).then((r) => r.status), (code) => code === 404, 4000);
    expect((await fetch(s.url + `jobs/${st.jobs[0]}`)).status).toBe(404);
    expect((await fetch(s.origin + `/wcs_file/${st.jobs[0]}`)).status).toBe(404);
  });
});

describe('restarts', () => {
  it('restartWorkers re-creates unfinished jobs under new ids; the old id answers 404 HTML', async () => {
    const s = await start({ simulated: { ingestMs: 5, queueMs: 5, solveMs: 400 } });
    const session = await login(s);
    const id = await upload(s, session, 'r.png', png(30, 30, 5));
    const st = await waitFor(() => sub(s, id), (v) => typeof v.jobs[0] === 'number');
    const oldJob = st.jobs[0] as number;
    await waitFor(() => jobStatus(s, oldJob), (x) => x === 'solving');
    await s.restartWorkers();
    const gone = await fetch(s.url + `jobs/${oldJob}`);
    expect(gone.status).toBe(404);
    expect(gone.headers.get('content-type')).toMatch(/^text\/html/);
    const after = await waitFor(() => sub(s, id), (v) => typeof v.jobs[0] === 'number' && v.jobs[0] !== oldJob);
    const newJob = after.jobs[0] as number;
    expect(newJob).toBeGreaterThan(oldJob);
    await waitFor(() => jobStatus(s, newJob), (x) => x === 'success', 3000);
  });

  it('loses no submission across a server restart on the same dataDir; unfinished jobs resume', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'nova-persist-'));
    try {
      const a = await startServer({ port: 0, apiKeys: [KEY], solver: 'simulated', dataDir, simulated: { ingestMs: 5, queueMs: 5, solveMs: 30 } });
      const session = await login(a);
      const done = await upload(a, session, 'done.png', png(30, 20, 6));
      const finished = await waitFor(() => sub(a, done), (v) => v.job_calibrations.length === 1);
      const cal = await (await fetch(a.url + `jobs/${finished.jobs[0]}/calibration`)).text();
      await a.close();

      const b = await startServer({ port: 0, apiKeys: [KEY], solver: 'simulated', dataDir, simulated: { ingestMs: 5, queueMs: 5, solveMs: 800 } });
      servers.push(b);
      // Same submission, same job, same calibration; the old session is still valid.
      expect(await sub(b, done)).toEqual(finished);
      expect(await (await fetch(b.url + `jobs/${finished.jobs[0]}/calibration`)).text()).toBe(cal);
      const pending = await upload(b, session, 'pending.png', png(30, 20, 7));
      const running = await waitFor(() => sub(b, pending), (v) => typeof v.jobs[0] === 'number');
      const oldJob = running.jobs[0] as number;
      await b.close();

      const c = await startServer({ port: 0, apiKeys: [KEY], solver: 'simulated', dataDir, simulated: { ingestMs: 5, queueMs: 5, solveMs: 30 } });
      try {
        expect((await fetch(c.url + `jobs/${oldJob}`)).status).toBe(404);
        const resumed = await waitFor(() => sub(c, pending), (v) => v.job_calibrations.length === 1);
        expect(resumed.jobs[0]).not.toBe(oldJob);
        expect(resumed.user).toBe(finished.user);
      } finally {
        await c.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
