/**
 * The nova JSON API as a client meets it: text/plain JSON in Python's formatting, errors with
 * HTTP 200 and exact messages in decorator order, HTML where JSON was expected.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/index.js';

let srv: RunningServer;
const KEY = 'abcdefghijklmnop';

beforeAll(async () => {
  srv = await startServer({
    port: 0,
    apiKeys: [KEY],
    solver: 'simulated',
    maxUploadBytes: 64 * 1024,
    simulated: { ingestMs: 5, queueMs: 5, solveMs: 20 },
  });
});
afterAll(async () => {
  await srv.close();
});

async function post(path: string, json: unknown | string | undefined, init: RequestInit = {}) {
  const body = new URLSearchParams();
  if (json !== undefined) body.set('request-json', typeof json === 'string' ? json : JSON.stringify(json));
  const res = await fetch(srv.origin + path, { method: 'POST', body, redirect: 'manual', ...init });
  return { status: res.status, type: res.headers.get('content-type'), headers: res.headers, text: await res.text() };
}

async function get(path: string, init: RequestInit = {}) {
  const res = await fetch(srv.origin + path, { redirect: 'manual', ...init });
  return { status: res.status, type: res.headers.get('content-type'), headers: res.headers, text: await res.text() };
}

async function login(): Promise<string> {
  const r = await post('/api/login', { apikey: KEY });
  return (JSON.parse(r.text) as { session: string }).session;
}

async function uploadMultipart(json: unknown, file?: { name: string; bytes: Uint8Array }) {
  const form = new FormData();
  form.set('request-json', JSON.stringify(json));
  if (file) form.set('file', new Blob([file.bytes as Uint8Array<ArrayBuffer>]), file.name);
  const res = await fetch(srv.url + 'upload', { method: 'POST', body: form });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('login', () => {
  it('answers text/plain Python-formatted JSON, a 32-char session and the session cookie', async () => {
    const r = await post('/api/login', { apikey: KEY });
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/plain');
    // A user known only by an API key has no email: nova's message then ends after the colon.
    expect(r.text).toMatch(/^\{"status": "success", "message": "authenticated user: ", "session": "[a-z0-9]{32}"\}$/);
    const session = (JSON.parse(r.text) as { session: string }).session;
    const cookie = r.headers.get('set-cookie') ?? '';
    expect(cookie).toContain(`NovaAstrometrySession=${session};`);
    expect(cookie).toMatch(/Max-Age=1209600/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/Path=\//);
  });

  it('reports each request-json problem with nova\'s exact message, HTTP 200', async () => {
    const cases: [unknown, string][] = [
      [undefined, '{"status": "error", "errormessage": "no json"}'],
      ['', '{"status": "error", "errormessage": "no json"}'],
      ['{bad', '{"status": "error", "errormessage": "failed to parse JSON: \\"{bad\\""}'],
      ['null', '{"status": "error", "errormessage": "failed to parse JSON: \\"null\\""}'],
      [{}, '{"status": "error", "errormessage": "need \\"apikey\\""}'],
      [{ apikey: null }, '{"status": "error", "errormessage": "need \\"apikey\\""}'],
      [{ apikey: 'zzzzzzzzzzzzzzzz' }, '{"status": "error", "errormessage": "bad apikey"}'],
    ];
    for (const [json, expected] of cases) {
      const r = await post('/api/login', json);
      expect(r.status, String(json)).toBe(200);
      expect(r.type).toBe('text/plain');
      expect(r.text).toBe(expected);
    }
  });

  it('ignores raw JSON bodies and GET queries ("no json")', async () => {
    const raw = await fetch(srv.url + 'login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apikey: KEY }),
    });
    expect(await raw.text()).toBe('{"status": "error", "errormessage": "no json"}');
    const q = await get(`/api/login?request-json=${encodeURIComponent(JSON.stringify({ apikey: KEY }))}`);
    expect(q.text).toBe('{"status": "error", "errormessage": "no json"}');
  });

  it('answers an HTML 500 when the JSON is valid but not an object', async () => {
    const r = await post('/api/login', '["apikey"]');
    expect(r.status).toBe(500);
    expect(r.type).toMatch(/^text\/html/);
  });

  it('accepts request-json as a multipart field, but not as a file part', async () => {
    const form = new FormData();
    form.set('request-json', JSON.stringify({ apikey: KEY }));
    const ok = await fetch(srv.url + 'login', { method: 'POST', body: form });
    expect(await ok.text()).toMatch(/"status": "success"/);
    const asFile = new FormData();
    asFile.set('request-json', new Blob([JSON.stringify({ apikey: KEY })]), 'r.json');
    const bad = await fetch(srv.url + 'login', { method: 'POST', body: asFile });
    expect(await bad.text()).toBe('{"status": "error", "errormessage": "no json"}');
  });
});

describe('session checks', () => {
  it('runs no-session, unknown-key and expiry checks in nova\'s order', async () => {
    expect((await post('/api/myjobs', {})).text).toBe('{"status": "error", "errormessage": "no \\"session\\" in JSON."}');
    expect((await post('/api/myjobs', { session: 'nosuchkey' })).text).toBe(
      '{"status": "error", "errormessage": "no session with key \\"nosuchkey\\""}',
    );
    // Python's str() of a non-string key, ASCII-escaped output.
    expect((await post('/api/myjobs', { session: 1.5 })).text).toBe('{"status": "error", "errormessage": "no session with key \\"1.5\\""}');
    expect((await post('/api/myjobs', { session: 'é' })).text).toBe('{"status": "error", "errormessage": "no session with key \\"\\u00e9\\""}');
    const session = await login();
    expect((await post('/api/myjobs', { session })).text).toMatch(/^\{"jobs": \[[0-9, ]*\], "status": "success"\}$/);
  });

  it('expired-but-not-purged sessions are "not authenticated"; purged ones are unknown', async () => {
    const s = await startServer({ port: 0, apiKeys: [KEY], solver: 'simulated' });
    try {
      const l = await fetch(s.url + 'login', { method: 'POST', body: new URLSearchParams({ 'request-json': JSON.stringify({ apikey: KEY }) }) });
      const session = ((await l.json()) as { session: string }).session;
      const call = async (path: string, json: object) =>
        (await fetch(s.url + path, { method: 'POST', body: new URLSearchParams({ 'request-json': JSON.stringify(json) }) })).text();
      await s.expireSessions('expired');
      expect(await call('myjobs', { session })).toBe('{"status": "error", "errormessage": "user is not authenticated."}');
      expect(await call('upload', { session })).toBe('{"status": "error", "errormessage": "user is not authenticated."}');
      // Session-only endpoints still pass the "exists" check.
      expect(await call('submission_images', { session, subid: 1 })).toBe('{"status": "error", "errormessage": "submission does not exist"}');
      // Still expired on the next call: re-saving an expired session does not revive its key.
      expect(await call('myjobs', { session })).toBe('{"status": "error", "errormessage": "user is not authenticated."}');
      await s.expireSessions('purged');
      expect(await call('myjobs', { session })).toBe(`{"status": "error", "errormessage": "no session with key \\"${session}\\""}`);
    } finally {
      await s.close();
    }
  });

  it('slides expiry on every authenticated call', async () => {
    const s = await startServer({ port: 0, apiKeys: [KEY], solver: 'simulated', sessionTtlMs: 2000 });
    try {
      const call = async (path: string, json: object) =>
        (await fetch(s.url + path, { method: 'POST', body: new URLSearchParams({ 'request-json': JSON.stringify(json) }) })).text();
      const { session } = JSON.parse(await call('login', { apikey: KEY })) as { session: string };
      // Four calls 600 ms apart outlive a 2 s TTL only because each one slides it (wide margins:
      // a loaded CI machine may take a while to answer).
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 600));
        expect(await call('myjobs', { session })).toMatch(/"status": "success"/);
      }
      await new Promise((r) => setTimeout(r, 2300));
      expect(await call('myjobs', { session })).toBe('{"status": "error", "errormessage": "user is not authenticated."}');
    } finally {
      await s.close();
    }
  });
});

describe('upload validation', () => {
  it('returns subid and the sha1 of the stored bytes', async () => {
    const session = await login();
    const bytes = new TextEncoder().encode('10 20\n30 40\n');
    const r = await uploadMultipart({ session }, { name: 'stars.txt', bytes });
    expect(r.type).toBe('text/plain');
    expect(r.text).toMatch(/^\{"status": "success", "subid": \d+, "hash": "[0-9a-f]{40}"\}$/);
    const { createHash } = await import('node:crypto');
    expect((JSON.parse(r.text) as { hash: string }).hash).toBe(createHash('sha1').update(bytes).digest('hex'));
  });

  it('reports x/y list errors exactly', async () => {
    const session = await login();
    expect((await uploadMultipart({ session, x: [1, 'a'], y: [1, 2] })).text).toBe(
      '{"status": "error", "errormessage": "Failed to parse JSON \\"x\\" and \\"y\\" values -- should be lists of floats"}',
    );
    expect((await uploadMultipart({ session, x: 5, y: [1] })).text).toBe(
      '{"status": "error", "errormessage": "Failed to parse JSON \\"x\\" and \\"y\\" values -- should be lists of floats"}',
    );
    expect((await uploadMultipart({ session, x: [1, 2], y: [1] })).text).toBe(
      '{"status": "error", "errormessage": "\\"x\\" and \\"y\\" lists must be the same length"}',
    );
    // x alone is ignored: no file, no list, still success (the submission fails later).
    expect((await uploadMultipart({ session, x: [1, 2] })).text).toMatch(/^\{"status": "success", "subid": \d+\}$/);
  });

  it('rejects unknown albums without creating a submission', async () => {
    const session = await login();
    const before = (await post('/api/myjobs', { session })).text;
    const r = await uploadMultipart({ session, album: 'My Album' }, { name: 'a.txt', bytes: new TextEncoder().encode('1 2\n') });
    expect(r.text).toBe('{"status": "error", "errormessage": "Failed to find an Album with title \\"My Album\\""}');
    expect((await post('/api/myjobs', { session })).text).toBe(before);
  });

  it('answers HTML 500 where Python conversions or column limits fail, and ignores unknown keys', async () => {
    const session = await login();
    for (const bad of [{ scale_lower: 'abc' }, { downsample_factor: '2.5' }, { parity: null }, { publicly_visible: 'yes' }, { parity: -1 }]) {
      const r = await uploadMultipart({ session, ...bad });
      expect(r.status, JSON.stringify(bad)).toBe(500);
      expect(r.type).toMatch(/^text\/html/);
    }
    for (const ok of [{ scale_lower: '1.5' }, { downsample_factor: 2.7 }, { use_sextractor: 'false' }, { no_such_option: [1] }]) {
      const r = await uploadMultipart({ session, ...ok });
      expect(r.text, JSON.stringify(ok)).toMatch(/"status": "success"/);
    }
  });

  it('url_upload answers without a hash', async () => {
    const session = await login();
    const r = await post('/api/url_upload', { session, url: 'http://127.0.0.1:9/none.jpg' });
    expect(r.text).toMatch(/^\{"status": "success", "subid": \d+\}$/);
  });

  it('answers 413 past maxUploadBytes', async () => {
    const session = await login();
    const r = await uploadMultipart({ session }, { name: 'big.fits', bytes: new Uint8Array(200 * 1024) });
    expect(r.status).toBe(413);
    expect(r.type).toMatch(/^text\/html/);
    // The server is still healthy afterwards.
    expect((await post('/api/login', { apikey: KEY })).text).toMatch(/"status": "success"/);
  });

  it('answers 413 to a chunked upload that grows past the limit, and 400 to oversized form fields', async () => {
    async function* body() {
      yield Buffer.from('--B\r\nContent-Disposition: form-data; name="file"; filename="a.fits"\r\n\r\n');
      for (let i = 0; i < 8; i++) yield Buffer.alloc(16384, 1);
      yield Buffer.from('\r\n--B--\r\n');
    }
    const { request } = await import('undici');
    const r = await request(srv.url + 'upload', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=B' }, body: Readable.from(body()) });
    expect(r.statusCode).toBe(413);
    await r.body.text();
    const s = await startServer({ port: 0, apiKeys: [KEY], solver: 'simulated' });
    try {
      // Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) for non-file data.
      const big = await fetch(s.url + 'login', { method: 'POST', body: new URLSearchParams({ 'request-json': 'x'.repeat(3_000_000) }) });
      expect(big.status).toBe(400);
      expect(big.headers.get('content-type')).toMatch(/^text\/html/);
    } finally {
      await s.close();
    }
  });

  it('answers 400 to a malformed multipart body and keeps serving', async () => {
    const r = await fetch(srv.url + 'upload', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=XYZ' },
      body: '--XYZ\r\nContent-Disposition: form-data; name="request-json"\r\n\r\n{"session": "x"}',
    });
    expect(r.status).toBe(400);
    expect((await post('/api/login', { apikey: KEY })).status).toBe(200);
  });
});

describe('hostile input', () => {
  it('follows Python semantics for odd JSON shapes and never falls over', async () => {
    // `'session' in json` works on strings and lists too; indexing them then raises.
    expect((await post('/api/myjobs', '"abc"')).text).toBe('{"status": "error", "errormessage": "no \\"session\\" in JSON."}');
    expect((await post('/api/myjobs', '["x"]')).text).toBe('{"status": "error", "errormessage": "no \\"session\\" in JSON."}');
    for (const odd of ['"my session"', '["session"]', '5', '{"session": {"a": 1}}', '{"session": [1]}']) {
      const r = await post('/api/myjobs', odd);
      expect(r.status, odd).toBe(500);
      expect(r.type).toMatch(/^text\/html/);
    }
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    expect((await post('/api/login', deep)).text).toMatch(/^\{"status": "error", "errormessage": "failed to parse JSON: /);
    expect((await get('/api/jobs/%zz')).status).toBe(200);
    expect((await post('/api/login', { apikey: KEY })).text).toMatch(/"status": "success"/);
  });
});

describe('routing quirks', () => {
  it('answers unknown ids with 404 HTML and non-integer ids with 500 HTML', async () => {
    for (const p of ['/api/submissions/999999', '/api/jobs/999999', '/api/jobs/999999/calibration', '/api/jobs/999999/info']) {
      const r = await get(p);
      expect(r.status, p).toBe(404);
      expect(r.type).toMatch(/^text\/html/);
    }
    for (const p of ['/api/submissions/12-3', '/api/jobs/1-2', '/api/jobs/JOBID/annotations']) {
      const r = await get(p);
      expect(r.status, p).toBe(500);
      expect(r.type).toMatch(/^text\/html/);
    }
  });

  it('serves the home page with HTTP 200 for unknown paths; POSTs there fail CSRF', async () => {
    for (const p of ['/api/submission/1', '/api/jobs/abc', '/nonsense', '/']) {
      const r = await get(p);
      expect(r.status, p).toBe(200);
      expect(r.type).toMatch(/^text\/html/);
      expect(r.text).toContain('Astrometry.net');
    }
    expect((await post('/api/submission/1', {})).status).toBe(403);
  });

  it('makes trailing slashes optional and lets myjobs take any suffix', async () => {
    const session = await login();
    expect((await post('/api/login/', { apikey: KEY })).text).toMatch(/"status": "success"/);
    expect((await post('/api/myjobs/', { session })).text).toMatch(/"status": "success"/);
    expect((await post('/api/myjobs/anything/here', { session })).text).toMatch(/"status": "success"/);
  });

  it('answers sdss/galex_image_for_wcs with 500 after the session checks', async () => {
    expect((await post('/api/sdss_image_for_wcs', {})).text).toBe('{"status": "error", "errormessage": "no \\"session\\" in JSON."}');
    const session = await login();
    expect((await post('/api/galex_image_for_wcs', { session, wcs: {} })).status).toBe(500);
  });

  it('records every request with its endpoint name and no query string', async () => {
    await get('/api/jobs/999999?secret=1');
    const last = srv.requests.at(-1);
    expect(last).toMatchObject({ method: 'GET', path: '/api/jobs/999999', endpoint: 'job' });
    expect(typeof last?.at).toBe('number');
  });
});

describe('CORS', () => {
  it('is off by default and, when configured, allows only the listed origins', async () => {
    const plain = await fetch(srv.url + 'jobs/1', { headers: { Origin: 'http://localhost:3000' } });
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
    const s = await startServer({ port: 0, apiKeys: [KEY], solver: 'simulated', cors: { origins: ['http://localhost:3000'] } });
    try {
      const ok = await fetch(s.url + 'jobs/1', { headers: { Origin: 'http://localhost:3000' } });
      expect(ok.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
      // A page can read the long-poll headers.
      expect(ok.headers.get('access-control-expose-headers')).toBe('x-long-poll, x-state');
      const other = await fetch(s.url + 'jobs/1', { headers: { Origin: 'http://evil.example' } });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
      const pre = await fetch(s.url + 'login', {
        method: 'OPTIONS',
        headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'POST' },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    } finally {
      await s.close();
    }
  });
});
