/**
 * Fault injection: each kind answers as documented, applies to the next matching requests
 * only, then is used up; requests are recorded with endpoint names either way.
 */
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/index.js';

const KEY = 'faultsfaultsfaul';
let s: RunningServer;

beforeAll(async () => {
  s = await startServer({ port: 0, apiKeys: [KEY], solver: 'simulated' });
});
afterAll(async () => {
  await s.close();
});
beforeEach(() => s.faults.clear());

const loginBody = () => new URLSearchParams({ 'request-json': JSON.stringify({ apikey: KEY }) }).toString();

async function login() {
  const r = await request(s.url + 'login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: loginBody(),
  });
  return { status: r.statusCode, type: String(r.headers['content-type']), headers: r.headers, text: await r.body.text() };
}

describe('fault kinds', () => {
  it('drop: destroys the connection without an answer, once', async () => {
    s.faults.inject({ endpoint: 'login', kind: 'drop' });
    await expect(login()).rejects.toThrow();
    expect((await login()).status).toBe(200);
  });

  it('status: answers the given status with an HTML body (500 by default)', async () => {
    s.faults.inject({ endpoint: 'login', kind: 'status', status: 502 });
    s.faults.inject({ endpoint: 'login', kind: 'status' });
    const a = await login();
    expect([a.status, a.type]).toEqual([502, 'text/html; charset=utf-8']);
    expect(a.text).toContain('502');
    const b = await login();
    expect([b.status, b.type]).toEqual([500, 'text/html; charset=utf-8']);
    expect((await login()).status).toBe(200);
  });

  it('html: the home page with HTTP 200 where JSON was expected', async () => {
    s.faults.inject({ endpoint: 'job', kind: 'html' });
    const r = await request(s.url + 'jobs/12345');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(await r.body.text()).toContain('<html>');
  });

  it('text: HTTP 200 text/plain that is not JSON', async () => {
    s.faults.inject({ endpoint: 'login', kind: 'text' });
    const r = await login();
    expect([r.status, r.type]).toEqual([200, 'text/plain']);
    expect(() => JSON.parse(r.text)).toThrow();
  });

  it('rate-limit: 429 with Retry-After in seconds', async () => {
    s.faults.inject({ endpoint: 'login', kind: 'rate-limit', retryAfterSeconds: 7 });
    const r = await login();
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('7');
  });

  it('forbidden: a front-end 403 HTML page', async () => {
    s.faults.inject({ endpoint: 'login', kind: 'forbidden' });
    const r = await login();
    expect([r.status, r.type]).toEqual([403, 'text/html; charset=utf-8']);
    expect(r.text).toContain('403 Forbidden');
  });

  it('slow: delays, then answers normally', async () => {
    s.faults.inject({ endpoint: 'login', kind: 'slow', delayMs: 300 });
    const t0 = Date.now();
    const r = await login();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(r.text).toMatch(/"status": "success"/);
  });
});

describe('fault matching', () => {
  it('applies `times` times, only to matching endpoints', async () => {
    s.faults.inject({ endpoint: 'login', kind: 'status', status: 503, times: 2 });
    expect((await request(s.url + 'jobs/1')).statusCode).toBe(404);
    expect((await login()).status).toBe(503);
    expect(s.faults.pending).toHaveLength(1);
    expect((await login()).status).toBe(503);
    expect(s.faults.pending).toHaveLength(0);
    expect((await login()).status).toBe(200);
  });

  it('matches paths and regular expressions, and any request without an endpoint', async () => {
    s.faults.inject({ endpoint: '/api/jobs/77/', kind: 'status', status: 504 });
    expect((await request(s.url + 'jobs/77')).statusCode).toBe(504);
    s.faults.inject({ endpoint: /^(wcs|corr)_file$/, kind: 'status', status: 500 });
    expect((await request(s.origin + '/corr_file/5', { headers: { referer: 'x' } })).statusCode).toBe(500);
    s.faults.inject({ kind: 'forbidden' });
    expect((await request(s.origin + '/anything')).statusCode).toBe(403);
  });

  it('clear() disarms everything', async () => {
    s.faults.inject({ endpoint: 'login', kind: 'drop', times: 5 });
    s.faults.clear();
    expect((await login()).status).toBe(200);
  });

  it('answers a faulted upload after reading its body, so the client sees the status', async () => {
    s.faults.inject({ endpoint: 'upload', kind: 'status', status: 503 });
    const form = new FormData();
    form.set('request-json', JSON.stringify({ session: 'x' }));
    form.set('file', new Blob([new Uint8Array(2 * 1024 * 1024)]), 'big.fits');
    const r = await fetch(s.url + 'upload', { method: 'POST', body: form });
    expect(r.status).toBe(503);
  });

  it('records faulted requests too, with endpoint names', async () => {
    const before = s.requests.length;
    s.faults.inject({ endpoint: 'calibration', kind: 'text' });
    await request(s.url + 'jobs/3/calibration');
    await request(s.origin + '/annotated_full/3', { headers: { referer: 'x' } });
    await request(s.origin + '/api/nope');
    expect(s.requests.slice(before).map((r) => r.endpoint)).toEqual(['calibration', 'annotated_full', 'home']);
  });
});
