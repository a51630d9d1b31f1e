/**
 * Exactly which requests the Client makes, through the fake nova transport: nova's maintainer
 * asks for gentle clients, so every redundant request here is a regression.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { Client } from '../src/client/client.js';
import { AbortedError, AuthError, JobFailedError, NotFoundError, SubmissionFailedError, TimeoutError } from '../src/errors.js';
import { Job } from '../src/client/job.js';
import type { PollSchedule } from '../src/tasks/polling.js';
import { Submission } from '../src/client/submission.js';
import { API_KEY, SESSION, fakeNova, fitsBytes, hang, json, requestLines, html, type FakeNovaOptions, type Handler } from './helpers/fake-nova.js';
import { Session } from '../src/client/session.js';
import { HttpError } from '../src/errors.js';
import { backoffDelay } from '../src/protocol/retry.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Paths are checked before any request, so file inputs must exist; the fake server ignores their bytes.
const fileDir = mkdtempSync(join(tmpdir(), 'anc-unit-'));
function fitsFile(name: string): string {
  const path = join(fileDir, name);
  writeFileSync(path, 'SIMPLE  =                    T');
  return path;
}

const API = 'http://nova.test/api/';
const FAST: Partial<PollSchedule> = { minIntervalMs: 0, maxIntervalMs: 0, jitter: 0 };
const HOUR = 3_600_000;
// Waits of an hour, so only explicit status() calls poll (after the clock is moved on).
const SLOW: Partial<PollSchedule> = { minIntervalMs: HOUR, maxIntervalMs: HOUR, jitter: 0 };

function setup(fake: FakeNovaOptions = {}, overrides: Record<string, Handler> = {}, polling: Partial<PollSchedule> = FAST) {
  const transport = fakeNova(fake, overrides);
  const client = new Client({ apiKey: API_KEY, apiUrl: API, transport, polling, retry: { retries: 0 }, timeoutMs: null });
  return { transport, client, lines: () => requestLines(transport.requests) };
}

const times = (n: number, line: string) => Array<string>(n).fill(line);
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The requests of a whole solve: N pending submission polls, M solving job polls. */
const solveLines = (upload: string, n: number, m: number) => [
  'POST /api/login',
  upload,
  ...times(n + 1, 'GET /api/submissions/101?wait=600'),
  ...times(m + 1, 'GET /api/jobs/202?wait=600'),
  'GET /api/jobs/202/calibration',
];

const CAL = { ra: 187.0, dec: 56.7, radius: 5.0, pixscale: 45.0, orientation: 20.0, parity: 1, width_arcsec: 28800, height_arcsec: 21600 };

describe('a whole solve makes exactly the requests it needs', () => {
  test('a file: login, upload, N+1 submission polls, M+1 job polls, the calibration', async () => {
    const { client, lines, transport } = setup({ pendingSubmissionPolls: 2, solvingPolls: 3 });
    const result = await client.solve(fitsFile('m42.fits'));
    expect(lines()).toEqual(solveLines('POST /api/upload', 2, 3));
    expect(result.toJSON()).toEqual({ subid: 101, jobId: 202, calibration: CAL, hash: 'a'.repeat(40), hints: null, retriedBlind: false });
    expect(transport.requests[1]!.body?.kind).toBe('multipart');
  });

  test('a URL: the upload is url_upload, and there is no hash', async () => {
    const { client, lines } = setup({ pendingSubmissionPolls: 1, solvingPolls: 0 });
    const result = await client.solve('https://example.org/m42.jpg');
    expect(lines()).toEqual(solveLines('POST /api/url_upload', 1, 0));
    expect(result.hash).toBeNull();
  });

  test('a source list: posted to /api/upload as a form', async () => {
    const { client, lines, transport } = setup({ pendingSubmissionPolls: 0, solvingPolls: 2 });
    const result = await client.solve({ sourceList: { x: [1, 2, 3], y: [4, 5, 6] } }, { imageWidth: 100, imageHeight: 100 });
    expect(lines()).toEqual(solveLines('POST /api/upload', 0, 2));
    expect(transport.requests[1]!.body?.kind).toBe('form');
    expect(transport.requests[1]!.json).toMatchObject({ x: [1, 2, 3], y: [4, 5, 6], session: SESSION });
    expect(result.jobId).toBe(202);
  });

  test('bytes in memory: one multipart upload', async () => {
    const { client, lines } = setup();
    await client.solve({ bytes: new Uint8Array([1, 2, 3]), filename: 'f.png' });
    expect(lines()).toEqual(solveLines('POST /api/upload', 0, 0));
  });

  test('a job failure: no calibration request, and the error says which job', async () => {
    const { client, lines } = setup({ solvingPolls: 1, finalStatus: 'failure' });
    const error = await client.solve('https://example.org/m42.jpg').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error).toMatchObject({ code: 'job_failed', subid: 101, jobId: 202 });
    expect(lines()).toEqual(['POST /api/login', 'POST /api/url_upload', 'GET /api/submissions/101?wait=600', 'GET /api/jobs/202?wait=600', 'GET /api/jobs/202?wait=600']);
  });

  test('a submission failure: no job request', async () => {
    const { client, lines } = setup({}, {
      submission: () =>
        json({ processing_started: 'None', processing_finished: 'None', user: 1, user_images: [], images: [], jobs: [], job_calibrations: [], error_message: 'bad' }),
    });
    const error = await client.solve('https://example.org/m42.jpg').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SubmissionFailedError);
    expect(error).toMatchObject({ code: 'submission_failed', subid: 101 });
    expect(lines()).toEqual(['POST /api/login', 'POST /api/url_upload', 'GET /api/submissions/101?wait=600']);
  });
});

describe('results are fetched once', () => {
  test('a second read of every cached result makes no request', async () => {
    const { client, lines } = setup();
    const result = await client.solve('https://example.org/m42.jpg');
    const afterSolve = lines().length;
    const job = result.job;

    // The calibration came with the solve.
    expect(await job.calibration()).toEqual(CAL);
    expect(lines()).toHaveLength(afterSolve);

    const reads = async () => ({
      calibration: await job.calibration(),
      info: await job.info(),
      tags: await job.tags(),
      machineTags: await job.machineTags(),
      objects: await job.objectsInField(),
      annotations: await job.annotations(),
      bright: await job.annotations({ nbright: 3 }),
      wcsFile: await result.wcsFile(),
      wcs: (await result.wcs()).header.get('CRVAL1'),
      newFits: await job.newFitsFile(),
      rdls: await job.rdlsFile(),
      axy: await job.axyFile(),
      corr: await job.corrFile(),
      imageRd: await job.imageRdFile(),
      annotated: await job.annotatedImage(),
      annotatedFull: await job.annotatedImage({ size: 'full' }),
      joblog: await job.joblog(),
    });
    const first = await reads();
    expect(first.wcs).toBe(187);
    expect(first.info.objects_in_field).toEqual(['M 42']);
    expect(first.bright[0]?.names).toEqual(['Betelgeuse']);
    expect(lines().slice(afterSolve)).toEqual([
      'GET /api/jobs/202/info',
      'GET /api/jobs/202/tags',
      'GET /api/jobs/202/machine_tags',
      'GET /api/jobs/202/objects_in_field',
      'GET /api/jobs/202/annotations',
      'GET /api/jobs/202/annotations?nbright=3',
      'GET /wcs_file/202',
      'GET /new_fits_file/202',
      'GET /rdls_file/202',
      'GET /axy_file/202',
      'GET /corr_file/202',
      'GET /image_rd_file/202',
      'GET /annotated_display/202',
      'GET /annotated_full/202',
      'GET /joblog/202',
    ]);
    const count = lines().length;
    const second = await reads();
    expect(lines()).toHaveLength(count);
    expect(second).toEqual(first);
  });

  test('an unknown result kind is refused without killing the solve', async () => {
    const { client } = setup();
    const result = await client.solve('https://example.org/m42.jpg');
    await expect(result.job.file('wcs_file' as never)).rejects.toThrow();
    expect(result.job.handle.snapshot.status).toBe('active');
    expect((await result.job.info()).status).toBe('success');
  });

  test('two concurrent reads of the same result share one request', async () => {
    const { client, lines } = setup();
    const result = await client.solve('https://example.org/m42.jpg');
    const before = lines().length;
    const [a, b, c] = await Promise.all([result.job.info(), result.job.info(), result.wcsFile()]);
    expect(a).toEqual(b);
    expect(c.kind).toBe('wcs');
    expect(lines().slice(before).sort()).toEqual(['GET /api/jobs/202/info', 'GET /wcs_file/202']);
  });

  test('a failed download is not cached: it is asked for again, once per read', async () => {
    let n = 0;
    const { client, lines } = setup({}, {
      new_fits_file: () => (n++ === 0 ? html(200, 'image2pnm.py failed') : { status: 200, headers: { 'content-type': 'application/fits' }, body: fitsBytes() }),
    });
    const result = await client.solve('https://example.org/m42.jpg');
    await expect(result.job.newFitsFile()).rejects.toMatchObject({ code: 'unexpected_content' });
    expect((await result.job.newFitsFile()).bytes).toEqual(fitsBytes());
    await result.job.newFitsFile();
    expect(lines().filter((l) => l.includes('new_fits_file'))).toHaveLength(2);
  });
});

describe('a page in place of a result file', () => {
  const quick = (overrides: Record<string, Handler>, fake: FakeNovaOptions = {}) => {
    const transport = fakeNova(fake, overrides);
    const client = new Client({ apiKey: API_KEY, apiUrl: API, transport, polling: FAST, retry: { baseDelayMs: 1, maxDelayMs: 2 }, timeoutMs: 10_000 });
    return { client, lines: () => requestLines(transport.requests) };
  };
  const fits = { status: 200, headers: { 'content-type': 'application/fits' }, body: fitsBytes() };

  test('of a solved job is the front end, not the file: asked again until it comes (as a poll is), here after 5 pages', async () => {
    let n = 0;
    const { client, lines } = quick({ wcs_file: () => (n++ < 5 ? html(200, 'Service temporarily unavailable') : fits) });
    const result = await client.solve('https://example.org/m42.jpg');
    expect((await result.job.wcsFile()).bytes).toEqual(fitsBytes());
    expect(lines().filter((l) => l.includes('wcs_file'))).toHaveLength(6);
  });

  test('of a solved job, for a file only image uploads have (a plot), may be for good: asked twice more only', async () => {
    const { client, lines } = quick({ annotated_display: () => html(200, 'no plot for an x/y list') });
    const result = await client.solve('https://example.org/m42.jpg');
    await expect(result.job.file('annotatedDisplay')).rejects.toMatchObject({ code: 'unexpected_content' });
    expect(lines().filter((l) => l.includes('annotated_display'))).toHaveLength(3);
  });

  test('of a failed job may be a file it will never have: asked twice more, then unexpected_content', async () => {
    const { client, lines } = quick({ axy_file: () => html(200, 'no such file') }, { finalStatus: 'failure' });
    const job = await client.submit('https://example.org/m42.jpg').untilDone();
    expect(await job.success()).toBe(false);
    await expect(job.file('axy')).rejects.toMatchObject({ code: 'unexpected_content' });
    expect(lines().filter((l) => l.includes('axy_file'))).toHaveLength(3);
  });
});

describe('one login per client', () => {
  test('two solves one after the other share one login', async () => {
    const { client, lines } = setup();
    await client.solve('https://example.org/a.jpg');
    await client.solve('https://example.org/b.jpg');
    expect(lines().filter((l) => l === 'POST /api/login')).toHaveLength(1);
    expect(lines().filter((l) => l === 'POST /api/url_upload')).toHaveLength(2);
  });

  test('concurrently started solves share one login request', async () => {
    const { client, lines, transport } = setup();
    await Promise.all([
      client.solve('https://example.org/a.jpg'),
      client.solve('https://example.org/b.jpg'),
      client.solve(fitsFile('c.fits')),
    ]);
    expect(lines().filter((l) => l === 'POST /api/login')).toHaveLength(1);
    expect(lines().filter((l) => l.startsWith('POST /api/') && l !== 'POST /api/login')).toHaveLength(3);
    for (const r of transport.requests.filter((q) => q.json?.session !== undefined)) expect(r.json?.session).toBe(SESSION);
  });

  test('an expired session during the upload costs exactly one more login and one more upload', async () => {
    const FRESH = 'zyxwvutsrq9876543210zyxwvutsrq98';
    let logins = 0;
    let uploads = 0;
    const { client, lines, transport } = setup({ pendingSubmissionPolls: 1, solvingPolls: 1 }, {
      login: () => json({ status: 'success', message: 'authenticated user: a@b.c', session: ++logins === 1 ? SESSION : FRESH }),
      upload: () =>
        ++uploads === 1
          ? json({ status: 'error', errormessage: `no session with key "${SESSION}"` })
          : json({ status: 'success', subid: 101, hash: 'c'.repeat(40) }),
    });
    const result = await client.solve(fitsFile('m42.fits'));
    expect(lines()).toEqual([
      'POST /api/login',
      'POST /api/upload',
      'POST /api/login',
      'POST /api/upload',
      ...times(2, 'GET /api/submissions/101?wait=600'),
      ...times(2, 'GET /api/jobs/202?wait=600'),
      'GET /api/jobs/202/calibration',
    ]);
    const uploadsSent = transport.requests.filter((r) => r.path === '/api/upload');
    expect(uploadsSent.map((r) => r.json?.session)).toEqual([SESSION, FRESH]);
    expect(result.hash).toBe('c'.repeat(40));
    // The next solve uses the fresh session without logging in again.
    await client.solve(fitsFile('m43.fits'));
    expect(lines().filter((l) => l === 'POST /api/login')).toHaveLength(2);
    expect(transport.requests.filter((r) => r.path === '/api/upload').at(-1)?.json?.session).toBe(FRESH);
  });

  test('a session that expires twice fails with code auth after two logins and two uploads', async () => {
    const { client, lines } = setup({}, { upload: () => json({ status: 'error', errormessage: 'user is not authenticated.' }) });
    await expect(client.solve(fitsFile('m42.fits'))).rejects.toMatchObject({ code: 'auth' });
    expect(lines()).toEqual(['POST /api/login', 'POST /api/upload', 'POST /api/login', 'POST /api/upload']);
  });
});

describe('a refused API key', () => {
  test('fails with code auth (README: "auth — bad or missing API key"), after one login and no upload', async () => {
    const { client, lines } = setup({}, { login: () => json({ status: 'error', errormessage: 'bad apikey' }) });
    const error = await client.solve('https://example.org/m42.jpg').catch((e: unknown) => e);
    expect(lines()).toEqual(['POST /api/login']);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ code: 'auth' });
  });

  test('a failed login is not remembered: the next solve logs in again', async () => {
    let logins = 0;
    const { client, lines } = setup({}, {
      login: () => (++logins === 1 ? json({ status: 'error', errormessage: 'bad apikey' }) : json({ status: 'success', message: '', session: SESSION })),
    });
    await expect(client.solve('https://example.org/a.jpg')).rejects.toThrow(/bad apikey/);
    expect(lines()).toEqual(['POST /api/login']);
    await client.solve('https://example.org/b.jpg');
    expect(lines().filter((l) => l === 'POST /api/login')).toHaveLength(2);
  });
});

describe('resume', () => {
  /** A solve persisted while its submission poll is in flight, as JSON would bring it back. */
  async function persistedWhilePolling() {
    const a = setup({}, { submission: hang() });
    const submission = a.client.submit('https://example.org/m42.jpg');
    await submission.handle.until((s) => s.matches({ submissionPending: 'reading' }));
    const persisted = JSON.parse(JSON.stringify(submission.persist()));
    submission.cancel();
    return persisted;
  }

  test('a persisted solve resumes in another client without login or upload', async () => {
    const persisted = await persistedWhilePolling();
    expect(JSON.stringify(persisted)).not.toContain(SESSION);
    expect(JSON.stringify(persisted)).not.toContain(API_KEY);

    const b = setup({ pendingSubmissionPolls: 1 });
    const result = await b.client.resume(persisted);
    expect(result.toJSON()).toMatchObject({ subid: 101, jobId: 202 });
    expect(b.lines()).toEqual(['GET /api/submissions/101?wait=600', 'GET /api/submissions/101?wait=600', 'GET /api/jobs/202?wait=600', 'GET /api/jobs/202/calibration']);
  });

  test('a solve persisted before the polling fields were grouped (flat context, same format) still resumes', async () => {
    const persisted = await persistedWhilePolling();
    // The context as 0.1.0 wrote it before `polling` and `recovery`.
    const { polling, recovery, ...rest } = persisted.snapshot.context;
    persisted.snapshot.context = {
      ...rest,
      schedule: polling.schedule,
      phaseStartedAt: polling.phaseStartedAt,
      nextPollAt: polling.nextPollAt,
      lastPollAt: polling.lastPollAt,
      pollToken: polling.token,
      serverHoldsSeconds: polling.serverHoldsSeconds,
      relogins: recovery.relogins,
      lostJobIds: recovery.lostJobIds,
    };

    const b = setup({ pendingSubmissionPolls: 1 });
    const result = await b.client.resume(persisted);
    expect(result.toJSON()).toMatchObject({ subid: 101, jobId: 202 });
    expect(b.lines()).toEqual(['GET /api/submissions/101?wait=600', 'GET /api/submissions/101?wait=600', 'GET /api/jobs/202?wait=600', 'GET /api/jobs/202/calibration']);
  });

  test('Client.job(id) reads the job and its calibration only', async () => {
    const { client, lines } = setup({ solvingPolls: 1 });
    const result = await client.job(202);
    expect(result.calibration).toEqual(CAL);
    expect(lines()).toEqual(['GET /api/jobs/202?wait=600', 'GET /api/jobs/202?wait=600', 'GET /api/jobs/202/calibration']);
  });

  test('Client.job(id) of a job that answers 404 fails not_found without polling a submission', async () => {
    const { client, lines } = setup({}, { job: () => html(404) });
    await expect(client.job(55)).rejects.toMatchObject({ code: 'not_found', jobId: 55 });
    expect(lines()).toEqual(['GET /api/jobs/55?wait=600']);
  });
});

describe('facades: status() costs one request when not final, none when final', () => {
  // The schedule waits an hour between polls and never polls closer than that; the clock (Date
  // only) is moved on by an hour before each status() so the early poll it asks for is allowed.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const anHourLater = () => vi.setSystemTime(Date.now() + HOUR);

  test('Job.status()', async () => {
    let status = 'solving';
    const { client, lines } = setup({}, { job: () => json({ status }) }, SLOW);
    const job = Job.byId(202, client.session);
    try {
      await job.handle.until((s) => s.matches({ jobRunning: 'waiting' }));
      expect(lines()).toEqual(['GET /api/jobs/202?wait=600']);

      anHourLater();
      expect(await job.status()).toBe('solving');
      expect(lines()).toEqual(times(2, 'GET /api/jobs/202?wait=600'));
      anHourLater();
      expect(await job.status()).toBe('solving');
      expect(lines()).toEqual(times(3, 'GET /api/jobs/202?wait=600'));

      status = 'success';
      anHourLater();
      expect(await job.status()).toBe('success');
      await job.untilDone();
      expect(lines()).toEqual([...times(4, 'GET /api/jobs/202?wait=600'), 'GET /api/jobs/202/calibration']);

      // Final: no more requests.
      expect(await job.status()).toBe('success');
      expect(await job.status()).toBe('success');
      await flush();
      expect(lines()).toHaveLength(5);
    } finally {
      job.handle.actor.stop();
    }
  });

  test('Job.status() of a failed job makes no request', async () => {
    const { client, lines } = setup({ finalStatus: 'failure' }, {}, SLOW);
    const job = Job.byId(202, client.session);
    expect(await job.success()).toBe(false);
    expect(lines()).toEqual(['GET /api/jobs/202?wait=600']);
    expect(await job.status()).toBe('failure');
    await flush();
    expect(lines()).toEqual(['GET /api/jobs/202?wait=600']);
  });

  test('Submission.status()', async () => {
    let ready = false;
    const { client, lines } = setup(
      {},
      {
        submission: () =>
          json({
            processing_started: '2026-11-25 10:00:00',
            processing_finished: 'None',
            user: 1,
            user_images: ready ? [7] : [],
            images: [],
            jobs: ready ? [202] : [],
            job_calibrations: [],
          }),
        job: () => json({ status: 'solving' }),
      },
      SLOW,
    );
    const submission = Submission.byId(101, client.session);
    try {
      await submission.handle.until((s) => s.matches({ submissionPending: 'waiting' }));
      expect(lines()).toEqual([]);

      anHourLater();
      const first = await submission.status();
      expect(first?.jobs).toEqual([]);
      expect(first?.processing_started).toBe('2026-11-25T10:00:00.000Z');
      expect(lines()).toEqual(['GET /api/submissions/101?wait=600']);
      anHourLater();
      await submission.status();
      expect(lines()).toEqual(times(2, 'GET /api/submissions/101?wait=600'));

      ready = true;
      anHourLater();
      const last = await submission.status();
      expect(last?.jobs).toEqual([202]);
      await submission.handle.until((s) => s.matches({ jobRunning: 'waiting' }));
      expect(lines()).toEqual([...times(3, 'GET /api/submissions/101?wait=600'), 'GET /api/jobs/202?wait=600']);
      expect(submission.jobs.map((j) => j.id)).toEqual([202]);

      // The submission is final (it has its job): no more submission requests.
      expect((await submission.status())?.jobs).toEqual([202]);
      await flush();
      expect(lines()).toHaveLength(4);
    } finally {
      submission.handle.actor.stop();
    }
  });
});

describe('ending a solve early', () => {
  test('aborting the signal aborts the request in flight and rejects with code aborted; nothing more is sent', async () => {
    let inFlight: AbortSignal | undefined;
    const { client, lines } = setup({}, { submission: hang((req) => (inFlight = req.signal)) });
    const controller = new AbortController();
    const solving = client.solve('https://example.org/m42.jpg', { signal: controller.signal });
    const end = Date.now() + 5000;
    while (!inFlight && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
    expect(inFlight?.aborted).toBe(false);
    controller.abort();
    const error = await solving.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect(error).toMatchObject({ code: 'aborted', subid: 101 });
    expect(inFlight?.aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(lines()).toEqual(['POST /api/login', 'POST /api/url_upload', 'GET /api/submissions/101?wait=600']);
  });

  test('an already aborted signal makes no request', async () => {
    const { client, lines } = setup();
    const controller = new AbortController();
    controller.abort();
    await expect(client.solve('https://example.org/m42.jpg', { signal: controller.signal })).rejects.toBeInstanceOf(AbortedError);
    await new Promise((r) => setTimeout(r, 20));
    expect(lines()).toEqual([]);
  });

  test('the deadline ends a slow poll: TimeoutError with the subid, no poll after the deadline', async () => {
    const transport = fakeNova();
    const client = new Client({ apiKey: API_KEY, apiUrl: API, transport, polling: SLOW, retry: { retries: 0 }, timeoutMs: 50 });
    const error = await client.solve('https://example.org/m42.jpg').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ code: 'timeout', subid: 101 });
    // The first poll was due an hour later, past the deadline: none was made.
    expect(requestLines(transport.requests)).toEqual(['POST /api/login', 'POST /api/url_upload']);
  });

  test('an unknown submission id → not_found with the subid', async () => {
    const { client, lines } = setup({}, { submission: () => html(404) });
    const submission = Submission.byId(999, client.session);
    const error = await submission.untilDone().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: 'not_found', subid: 999 });
    expect(lines()).toEqual(['GET /api/submissions/999?wait=600']);
  });

  test('a failed job still gives its log, with one request', async () => {
    const { client, lines } = setup({ finalStatus: 'failure' });
    const submission = client.submit('https://example.org/m42.jpg');
    const job = await submission.untilDone();
    expect(await job.success()).toBe(false);
    const before = lines().length;
    const log = await job.joblog();
    expect(new TextDecoder().decode(log.bytes)).toContain('solve-field');
    await job.joblog();
    expect(lines().slice(before)).toEqual(['GET /joblog/202']);
    await expect(job.calibration()).rejects.toBeInstanceOf(JobFailedError);
    expect(lines().slice(before)).toEqual(['GET /joblog/202']);
  });

  test('calibrateFileWcs of a missing file fails before any request', async () => {
    const { client, lines } = setup();
    await expect(client.calibrateFileWcs('/nonexistent/dir/m42.fits')).rejects.toMatchObject({ code: 'validation', option: 'file' });
    await flush();
    expect(lines()).toEqual([]);
  });
});

describe('a shared login', () => {
  test('cancelling one of two solves waiting for the same login does not fail the other', async () => {
    let releaseLogin!: () => void;
    const gate = new Promise<void>((resolve) => (releaseLogin = resolve));
    const transport = fakeNova({}, {
      login: async () => {
        await gate;
        return json({ status: 'success', message: '', session: SESSION });
      },
    });
    const client = new Client({ apiKey: API_KEY, apiUrl: 'http://127.0.0.1:9/api/', transport, polling: { minIntervalMs: 0, maxIntervalMs: 2 } });
    const a = new AbortController();
    const first = client.solve('https://example.org/a.png', { signal: a.signal }).catch((e: unknown) => e);
    const second = client.solve('https://example.org/b.png');
    await new Promise((r) => setTimeout(r, 10));
    a.abort();
    releaseLogin();
    expect(await first).toMatchObject({ code: 'aborted' });
    expect((await second).calibration).toBeDefined();
    expect(transport.requests.filter((r) => r.path === '/api/login')).toHaveLength(1);
  });

  test('when every waiting solve is cancelled the login request itself is aborted', async () => {
    let loginSignal: AbortSignal | undefined;
    const transport = fakeNova({}, {
      login: (req) => {
        loginSignal = req.signal;
        return new Promise(() => undefined);
      },
    });
    const client = new Client({ apiKey: API_KEY, apiUrl: 'http://127.0.0.1:9/api/', transport });
    const a = new AbortController();
    const solving = client.solve('https://example.org/a.png', { signal: a.signal }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 10));
    a.abort();
    expect(await solving).toMatchObject({ code: 'aborted' });
    expect(loginSignal?.aborted).toBe(true);
  });
});

describe('bytes handed in are not kept', () => {
  test('after a success, a job failure, a cancel, and a refused batch input, the session holds no bytes', async () => {
    const bytes = () => ({ bytes: new Uint8Array([1, 2, 3]), filename: 'x.png' });
    const make = (transport = fakeNova()) =>
      new Client({ apiKey: API_KEY, apiUrl: 'http://127.0.0.1:9/api/', transport, polling: { minIntervalMs: 0, maxIntervalMs: 2 } });

    const ok = make();
    await ok.solve(bytes());
    expect(ok.session.memory.size).toBe(0);

    const failing = make(fakeNova({ finalStatus: 'failure' }));
    await failing.solve(bytes()).catch(() => undefined);
    expect(failing.session.memory.size).toBe(0);

    const cancelled = make(fakeNova({}, { login: () => new Promise(() => undefined) }));
    const controller = new AbortController();
    const solving = cancelled.solve(bytes(), { signal: controller.signal }).catch(() => undefined);
    controller.abort();
    await solving;
    expect(cancelled.session.memory.size).toBe(0);

    const batch = make();
    const run = async () => {
      for await (const _ of batch.solveMany([bytes(), bytes(), { file: '/no/such/file.fits' }])) void _;
    };
    await expect(run()).rejects.toMatchObject({ code: 'validation' });
    expect(batch.session.memory.size).toBe(0);
  });

  // A FITS header with a pointing: its solve is hinted, and a hinted failure keeps the bytes for a blind retry.
  const hinted = () => ({ bytes: fitsBytes({ RA: 10, DEC: 20 }), filename: 'x.fits' });

  test('a hinted batch item that failed while the batch drains (no blind retry), and one never started, leave no bytes', async () => {
    const transport = fakeNova({ finalStatus: 'failure' });
    const session = new Session({ apiKey: API_KEY, apiUrl: 'http://127.0.0.1:9/api/', transport, polling: { minIntervalMs: 0, maxIntervalMs: 2 } });
    const { hintedOptions } = await import('../src/client/header-hints.js');
    const { acceptUpload } = await import('../src/client/solve-input.js');
    const { driveBatch } = await import('../src/client/batch-driver.js');
    const items = [0, 1].map((i) => {
      const input = hinted();
      return hintedOptions(input, {}, false).then(({ options, hints }) => {
        const { upload, options: wire } = acceptUpload(input, options, session.memory);
        expect(hints?.position).toMatchObject({ ra: 10, dec: 20 });
        return { id: String(i), input: { upload: { ...upload, hints: hints ?? undefined }, options: wire, schedule: session.schedule } };
      });
    });
    const run = driveBatch({ items: await Promise.all(items), concurrency: 1, solve: session.endingMachine, memory: session.memory });
    expect(session.memory.size).toBe(2);
    run.drain();
    const output = await run.done;
    expect(output).toEqual({ settled: 1, notStarted: ['1'] });
    // The one upload failed and was not retried: its bytes are freed all the same.
    expect(transport.requests.filter((r) => r.path === '/api/upload')).toHaveLength(1);
    expect(session.memory.size).toBe(0);
  });

  test('a hinted solve() whose caller aborts as its job fails makes no retry and leaves no bytes', async () => {
    const transport = fakeNova({ finalStatus: 'failure' });
    const client = new Client({ apiKey: API_KEY, apiUrl: 'http://127.0.0.1:9/api/', transport, polling: { minIntervalMs: 0, maxIntervalMs: 2 } });
    const controller = new AbortController();
    const solving = client.solve(hinted(), {
      signal: controller.signal,
      // The abort comes once the hinted solve has failed, before solve() decides on a retry.
      onStart: (s) => s.handle.actor.subscribe((snap) => snap.context.error?.code === 'job_failed' && controller.abort()),
    });
    await expect(solving).rejects.toMatchObject({ code: 'job_failed' });
    expect(transport.requests.filter((r) => r.path === '/api/upload')).toHaveLength(1);
    expect(client.session.memory.size).toBe(0);
  });
});

describe('the blind retry of a hinted solve', () => {
  test('has a deadline of its own (as documented): hinted and blind together may outlast timeoutMs', async () => {
    let polls = 0;
    const late = (status: string) => new Promise<ReturnType<typeof json>>((r) => setTimeout(() => r(json({ status })), 600));
    // Each attempt takes 0.6 s of a 1 s deadline: the two take longer than it.
    const transport = fakeNova({}, { job: () => late(polls++ === 0 ? 'failure' : 'success') });
    const client = new Client({ apiKey: API_KEY, apiUrl: 'http://127.0.0.1:9/api/', transport, polling: { minIntervalMs: 0, maxIntervalMs: 2 } });
    const started = Date.now();
    const result = await client.solve({ bytes: fitsBytes({ RA: 10, DEC: 20 }), filename: 'x.fits' }, { timeoutMs: 1000 });
    expect(Date.now() - started).toBeGreaterThan(1000);
    expect(result.retriedBlind).toBe(true);
    expect(transport.requests.filter((r) => r.path === '/api/upload')).toHaveLength(2);
  });
});

describe('polite to nova.astrometry.net', () => {
  test('status() asked again and again polls no closer than every 5 s', async () => {
    const transport = fakeNova({ solvingPolls: 100 });
    const session = new Session({ apiKey: API_KEY, apiUrl: 'https://nova.astrometry.net/api/', transport });
    const job = Job.byId(202, session);
    expect(await job.status()).toBe('solving');
    for (let i = 0; i < 5; i++) expect(await job.status()).toBe('solving');
    expect(transport.requests.map((r) => r.path)).toEqual(['/api/jobs/202']);
    job.handle.cancel();
  });

  test('retries against nova wait at least 5 s; elsewhere the policy alone decides', () => {
    const error = new HttpError(502, 'x');
    const policy = { retries: 3, baseDelayMs: 10, maxDelayMs: 100 };
    expect(backoffDelay({ ...policy, minDelayMs: 5000 }, 0, error, () => 0)).toBe(5000);
    expect(backoffDelay(policy, 0, error, () => 0)).toBe(5);
  });
});

describe('edges reviewed', () => {
  test('ids that are not positive integers are refused before any request', () => {
    const transport = fakeNova();
    const session = new Session({ apiKey: API_KEY, apiUrl: 'http://127.0.0.1:9/api/', transport });
    expect(() => Job.byId(Number.NaN, session)).toThrow(expect.objectContaining({ code: 'validation', option: 'jobId' }));
    expect(() => Submission.byId(-3, session)).toThrow(expect.objectContaining({ code: 'validation', option: 'subid' }));
    expect(transport.requests).toEqual([]);
  });

  test('an account query with an already aborted signal makes no request', async () => {
    const transport = fakeNova();
    const session = new Session({ apiKey: API_KEY, apiUrl: 'http://127.0.0.1:9/api/', transport });
    const controller = new AbortController();
    controller.abort();
    await expect(session.myJobs({ signal: controller.signal })).rejects.toMatchObject({ code: 'aborted' });
    expect(transport.requests).toEqual([]);
  });

  test('a stage is stamped when first entered: later downloads do not move success', async () => {
    const { client } = setup();
    const result = await client.solve('https://example.org/m42.jpg');
    const { stages } = result.submission.handle.snapshot.context;
    await new Promise((r) => setTimeout(r, 5));
    await result.job.info();
    await result.wcsFile();
    expect(result.submission.handle.snapshot.context.stages).toEqual(stages);
  });
});
