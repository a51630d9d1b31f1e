/**
 * The client against the in-repo nova-compatible server on 127.0.0.1 (simulated solver): the
 * minimal request sequence for each kind of input, cached results, and recovery from every
 * fault the real service shows.
 */
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { Client } from '../src/client/client.js';
import { milestones } from '../src/client/started-solve.js';
import { startServer, type RunningServer } from 'astrometry-net-server';
import { recordingTransport, type Exchange } from './helpers/recording-transport.js';

const IMAGE = new URL('./fixtures/small.png', import.meta.url);
const FAST = { minIntervalMs: 10, maxIntervalMs: 60, jitter: 0.1 };

let server: RunningServer;
let imageHost: Server;
let imageUrl: string;

beforeAll(async () => {
  server = await startServer({ port: 0, solver: 'simulated', allowPrivateUrls: true, simulated: { ingestMs: 60, queueMs: 40, solveMs: 80 } });
  const png = readFileSync(IMAGE);
  imageHost = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(png));
  await new Promise<void>((resolve) => imageHost.listen(0, '127.0.0.1', resolve));
  imageUrl = `http://127.0.0.1:${(imageHost.address() as AddressInfo).port}/m42-field.png`;
});

afterAll(async () => {
  await server.close();
  await new Promise((resolve) => imageHost.close(resolve));
});

beforeEach(() => server.faults.clear());

function client(extra: Partial<ConstructorParameters<typeof Client>[0]> = {}) {
  const transport = recordingTransport();
  const c = new Client({
    apiUrl: server.url,
    apiKey: server.apiKeys[0],
    transport,
    polling: FAST,
    retry: { retries: 3, baseDelayMs: 10, maxDelayMs: 2000, forbiddenDelayMs: 50 },
    ...extra,
  });
  return { client: c, log: transport.log };
}

const endpoint = (e: Exchange) =>
  e.path.replace(/\/\d+/g, '/:id').replace(/^\/(api\/)?/, '').replace(/\/$/, '');

/** login?, upload, submission polls that saw no job then one that did, job polls then a final one, calibration. */
function expectMinimalSolve(log: Exchange[], uploadEndpoint: string, withLogin = true) {
  const names = log.map(endpoint);
  let i = 0;
  if (withLogin) expect(names[i++]).toBe('login');
  expect(names[i++]).toBe(uploadEndpoint);
  const subPolls = log.slice(i).findIndex((e) => endpoint(e) !== 'submissions/:id');
  const submissionPolls = log.slice(i, i + subPolls);
  expect(submissionPolls.length).toBeGreaterThan(0);
  // Every submission poll but the last saw no job yet; the last one saw it: none was wasted.
  submissionPolls.forEach((e, k) => {
    const hasJob = (e.json?.jobs as (number | null)[]).some((j) => j !== null);
    expect(hasJob).toBe(k === submissionPolls.length - 1);
  });
  i += subPolls;
  const jobPolls: Exchange[] = [];
  while (endpoint(log[i] as Exchange) === 'jobs/:id') jobPolls.push(log[i++] as Exchange);
  expect(jobPolls.length).toBeGreaterThan(0);
  jobPolls.forEach((e, k) => expect(e.json?.status === 'success').toBe(k === jobPolls.length - 1));
  expect(names[i++]).toBe('jobs/:id/calibration');
  expect(names.length).toBe(i);
}

describe('solves in the minimal number of requests', () => {
  test('a file: login, upload, submission polls until the job id, job polls until success, calibration', async () => {
    const { client: c, log } = client();
    const before = server.requests.length;
    const result = await c.solve({ file: IMAGE.pathname });
    expectMinimalSolve(log, 'upload');
    expect(result.calibration.pixscale).toBeGreaterThan(0);
    expect(result.hash).toMatch(/^[0-9a-f]{40}$/);
    // The server saw exactly what the client's transport sent: no request went around it.
    expect(server.requests.length - before).toBe(log.length);
  });

  test('a URL: the same sequence through url_upload, no hash', async () => {
    const { client: c, log } = client();
    const result = await c.solve(imageUrl);
    expectMinimalSolve(log, 'url_upload');
    expect(result.hash).toBeNull();
    expect((await result.job.info()).original_filename).toBe('m42-field.png');
  });

  test('a source list: x/y in request-json, solved with the given image size', async () => {
    const { client: c, log } = client();
    const x = [10, 200, 350, 90, 600];
    const y = [20, 100, 400, 300, 50];
    const result = await c.solve({ sourceList: { x, y } }, { imageWidth: 640, imageHeight: 480 });
    expectMinimalSolve(log, 'upload');
    expect((await result.job.info()).original_filename).toBe('json-xy');
  });

  test('a second read of every cached result makes no request; two solves share one login', async () => {
    const { client: c, log } = client();
    const first = await c.solve({ file: IMAGE.pathname });
    const reads = async () => {
      await first.job.calibration();
      await first.job.info();
      await first.job.tags();
      await first.job.machineTags();
      await first.job.objectsInField();
      await first.job.annotations();
      for (const kind of ['wcs', 'rdls', 'axy', 'corr'] as const) await first.job.file(kind);
    };
    await reads();
    const afterFirstReads = log.length;
    await reads();
    expect(log.length).toBe(afterFirstReads);
    // calibration was cached by the solve itself: info, 3 tag lists, annotations, 4 files.
    expect(log.slice(-9).map(endpoint)).toEqual([
      'jobs/:id/info',
      'jobs/:id/tags',
      'jobs/:id/machine_tags',
      'jobs/:id/objects_in_field',
      'jobs/:id/annotations',
      'wcs_file/:id',
      'rdls_file/:id',
      'axy_file/:id',
      'corr_file/:id',
    ]);
    const before = log.length;
    await c.solve({ file: IMAGE.pathname });
    expectMinimalSolve(log.slice(before), 'upload', false);
  });
});

describe('recovers from what the real service does', () => {
  test('an expired session (both of nova\'s answers) logs in again once and retries the upload', async () => {
    for (const mode of ['expired', 'purged'] as const) {
      const { client: c, log } = client();
      await c.solve({ file: IMAGE.pathname });
      await server.expireSessions(mode);
      const before = log.length;
      const second = await c.solve({ file: IMAGE.pathname });
      const names = log.slice(before).map(endpoint);
      expect(names.slice(0, 3)).toEqual(['upload', 'login', 'upload']);
      expect(second.subid).toBeGreaterThan(0);
    }
  });

  test('a job re-created by a worker restart (old id 404) is found again through the submission', async () => {
    const slow = await startServer({ port: 0, solver: 'simulated', simulated: { ingestMs: 20, queueMs: 20, solveMs: 600 } });
    try {
      const transport = recordingTransport();
      const c = new Client({ apiUrl: slow.url, apiKey: slow.apiKeys[0], transport, polling: FAST });
      const submission = c.submit({ file: IMAGE.pathname });
      const firstJob = await submission.untilDone();
      const firstId = firstJob.id;
      await slow.restartWorkers();
      const job = await (async () => {
        const s = await submission.handle.until((snap) => snap.matches('success') || snap.matches('failure'));
        return s.context;
      })();
      expect(job.error).toBeNull();
      expect(job.jobId).not.toBe(firstId);
      expect(job.recovery.lostJobIds).toEqual([firstId]);
      // The Job object a caller already holds follows the re-created job.
      expect(firstJob.id).toBe(job.jobId);
      const names = transport.log.map(endpoint);
      expect(names.filter((n) => n === 'upload')).toHaveLength(1);
      // The lost id was answered 404 exactly once, then only the new id was polled.
      const lost = transport.log.filter((e) => e.path === `/api/jobs/${firstId}` && e.status === 404);
      expect(lost).toHaveLength(1);
    } finally {
      await slow.close();
    }
  });

  test('dropped connections and 5xx on polls are retried; the solve succeeds', async () => {
    const { client: c } = client();
    server.faults.inject({ endpoint: 'submission', kind: 'drop', times: 1 });
    server.faults.inject({ endpoint: 'job', kind: 'status', status: 502, times: 2 });
    const result = await c.solve({ file: IMAGE.pathname });
    expect(result.calibration).toBeDefined();
    expect(server.faults.pending).toHaveLength(0);
  });

  test('429 with Retry-After is waited out and retried', async () => {
    // How long it waits is the unit tests' business (fake clock); here: it comes back and succeeds.
    const { client: c, log } = client();
    server.faults.inject({ endpoint: 'calibration', kind: 'rate-limit', retryAfterSeconds: 1 });
    const result = await c.solve({ file: IMAGE.pathname });
    expect(result.calibration).toBeDefined();
    const calibrations = log.filter((e) => endpoint(e) === 'jobs/:id/calibration').map((e) => e.status);
    expect(calibrations).toEqual([429, 200]);
  });

  test('an upload whose connection dropped is never sent twice, and fails with a typed error', async () => {
    const { client: c, log } = client();
    await c.solve({ file: IMAGE.pathname }); // logged in
    const uploadsBefore = server.requests.filter((r) => r.endpoint === 'upload').length;
    server.faults.inject({ endpoint: 'upload', kind: 'drop' });
    const error = await c.solve({ file: IMAGE.pathname }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'network' });
    expect(server.requests.filter((r) => r.endpoint === 'upload').length - uploadsBefore).toBe(1);
    expect(log.filter((e) => endpoint(e) === 'upload').length).toBe(1);
  });

  test.each([
    ['an HTML page (200)', { kind: 'html' }],
    ['a text page (200)', { kind: 'text' }],
    ['a 403 block', { kind: 'forbidden' }],
    ['a 429 with Retry-After', { kind: 'rate-limit', retryAfterSeconds: 0 }],
    ['a 503', { kind: 'status', status: 503 }],
    ['a dropped connection', { kind: 'drop' }],
  ] as const)('%s on every kind of safe request is retried and the solve finishes', async (_name, fault) => {
    const { client: c, log } = client();
    for (const endpoint of ['login', 'submission', 'job', 'calibration', 'wcs_file']) server.faults.inject({ endpoint, ...fault, times: 2 });
    const result = await c.solve({ file: IMAGE.pathname });
    expect(result.calibration.pixscale).toBeGreaterThan(0);
    expect((await result.wcs()).header.get('CTYPE1')).toContain('TAN');
    expect(server.faults.pending).toHaveLength(0);
    expect(log.filter((e) => endpoint(e) === 'upload')).toHaveLength(1);
  });

  test('HTML where JSON was expected, until the retries run out, ends in unexpected_content carrying the subid and job id', async () => {
    const { client: c } = client();
    server.faults.inject({ endpoint: 'calibration', kind: 'html', times: 10 });
    const error = (await c.solve({ file: IMAGE.pathname }).catch((e: unknown) => e)) as { code: string; subid?: number; jobId?: number };
    expect(error.code).toBe('unexpected_content');
    expect(error.subid).toBeGreaterThan(0);
    expect(error.jobId).toBeGreaterThan(0);
  });

  test('a front end that keeps answering 403 is an http error with advice, after the retries, not a crash', async () => {
    const { client: c, log } = client();
    server.faults.inject({ endpoint: 'login', kind: 'forbidden', times: 10 });
    const error = (await c.solve({ file: IMAGE.pathname }).catch((e: unknown) => e)) as { code: string; status: number; message: string };
    expect(error).toMatchObject({ code: 'http', status: 403 });
    expect(error.message).toMatch(/poll/);
    expect(log.map(endpoint)).toEqual(['login', 'login', 'login', 'login']);
  });

  test('an upload answered with an HTML page is never sent twice: a typed error, not a retry', async () => {
    const { client: c, log } = client();
    server.faults.inject({ endpoint: 'upload', kind: 'html' });
    const error = await c.solve({ file: IMAGE.pathname }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'unexpected_content' });
    expect(log.filter((e) => endpoint(e) === 'upload')).toHaveLength(1);
  });

  test('an upload the server never answers is cut off at the solve deadline: timeout, uploaded once', async () => {
    const { client: c, log } = client({ timeoutMs: 1500 });
    server.faults.inject({ endpoint: 'upload', kind: 'slow', delayMs: 60_000 });
    // Unbounded, this would wait for undici's ten-minute default and the test would time out.
    const error = await c.solve({ file: IMAGE.pathname }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'timeout' });
    expect(log.filter((e) => endpoint(e) === 'upload')).toHaveLength(0);
    expect(server.requests.filter((r) => r.endpoint === 'upload').length).toBeGreaterThan(0);
  });

  test('a failing image ends as job_failed with both ids; its log can still be read', async () => {
    const { client: c } = client();
    const bytes = readFileSync(IMAGE);
    const submission = c.submit({ bytes, filename: 'noise.png' });
    const error = (await submission.untilDone().then((job) => job.untilDone()).catch((e: unknown) => e)) as { code: string; subid: number; jobId: number };
    expect(error.code).toBe('job_failed');
    expect(error.subid).toBe(submission.subid);
    expect(error.jobId).toBe(submission.jobs[0]?.id);
  });

  test('a bad API key is an auth error after one request', async () => {
    const { client: c, log } = client({ apiKey: 'wrongwrongwrongx' });
    const error = await c.solve({ file: IMAGE.pathname }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'auth' });
    expect(log.map(endpoint)).toEqual(['login']);
  });
});

describe('persistence across processes', () => {
  test('a solve persisted while waiting resumes in a new client without a second upload', async () => {
    const { client: first } = client();
    const submission = first.submit({ file: IMAGE.pathname });
    await submission.handle.until((s) => s.matches('submissionPending'));
    const saved = JSON.parse(JSON.stringify(submission.persist()));
    submission.cancel('process killed');
    expect(JSON.stringify(saved)).not.toContain(server.apiKeys[0]);
    const uploads = server.requests.filter((r) => r.endpoint === 'upload').length;

    const { client: second, log } = client();
    const result = await second.resume(saved);
    expect(result.subid).toBe(saved.snapshot.context.subid);
    expect(server.requests.filter((r) => r.endpoint === 'upload').length).toBe(uploads);
    expect(log.map(endpoint)).not.toContain('upload');
    expect(log.map(endpoint)).not.toContain('login');
  });
});

describe('every kind of upload source reaches the server whole', () => {
  test('bytes, a Blob, a Node Readable and a web ReadableStream upload the same file (same sha1)', async () => {
    const { createReadStream } = await import('node:fs');
    const { Readable } = await import('node:stream');
    const { createHash } = await import('node:crypto');
    const png = readFileSync(IMAGE);
    const sha1 = createHash('sha1').update(png).digest('hex');
    const { client: c } = client();
    const inputs = [
      { bytes: new Uint8Array(png), filename: 'a.png' },
      { blob: new Blob([png]), filename: 'b.png' },
      { stream: createReadStream(IMAGE), filename: 'c.png' },
      { stream: Readable.toWeb(createReadStream(IMAGE)) as ReadableStream<Uint8Array>, filename: 'd.png' },
      { file: IMAGE.pathname },
    ];
    for (const input of inputs) {
      const submission = c.submit(input);
      await submission.handle.reach(milestones.submitted);
      expect(submission.handle.snapshot.context.hash).toBe(sha1);
      submission.cancel();
    }
  });
});

describe('waiting with a timeout', () => {
  test('untilDone({ timeoutMs }) stops waiting with a TimeoutError carrying the subid, and the solve goes on', async () => {
    const slow = await startServer({ port: 0, solver: 'simulated', simulated: { ingestMs: 400, queueMs: 20, solveMs: 50 } });
    try {
      const c = new Client({ apiUrl: slow.url, apiKey: slow.apiKeys[0], polling: FAST });
      const submission = c.submit({ file: IMAGE.pathname });
      await submission.handle.reach(milestones.submitted);
      const error = (await submission.untilDone({ timeoutMs: 50 }).catch((e: unknown) => e)) as { code: string; subid: number };
      expect(error).toMatchObject({ code: 'timeout', subid: submission.subid });
      const job = await submission.untilDone();
      expect((await job.calibration()).pixscale).toBeGreaterThan(0);
    } finally {
      await slow.close();
    }
  });
});

describe('a server that stops answering', () => {
  test('a read with no byte moving within stallTimeoutMs is abandoned and retried; the solve succeeds', async () => {
    // The calibration read is never held on purpose (status reads may be, on this server).
    const { client: c, log } = client({ stallTimeoutMs: 300 });
    server.faults.inject({ endpoint: 'calibration', kind: 'slow', delayMs: 5000 });
    const seenBefore = server.requests.length;
    const result = await c.solve({ file: IMAGE.pathname });
    expect(result.calibration).toBeDefined();
    expect(server.faults.pending).toHaveLength(0);
    // The server received one calibration read more than the client got answers for: the abandoned one.
    const atServer = server.requests.slice(seenBefore).filter((r) => r.endpoint === 'calibration').length;
    expect(atServer).toBe(log.filter((e) => endpoint(e) === 'jobs/:id/calibration').length + 1);
    expect(log.filter((e) => endpoint(e) === 'upload')).toHaveLength(1);
  });
});

describe('account queries', () => {
  test('myJobs, submissionImages and jobsByTag each make one request; an expired session logs in again once', async () => {
    const { client: c, log } = client();
    const result = await c.solve({ file: IMAGE.pathname });
    const before = log.length;
    expect(await c.session.myJobs()).toContain(result.jobId);
    expect((await c.session.submissionImages(result.subid)).length).toBe(1);
    const tags = await c.session.jobsByTag('zzz-no-such-tag', { exact: true });
    expect(tags).toEqual([]);
    expect(log.slice(before).map(endpoint)).toEqual(['myjobs', 'submission_images', 'jobs_by_tag']);

    await server.expireSessions('purged');
    const again = log.length;
    expect(await c.session.myJobs()).toContain(result.jobId);
    expect(log.slice(again).map(endpoint)).toEqual(['myjobs', 'login', 'myjobs']);
  });
});
