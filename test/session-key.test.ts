import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { Client } from '../src/client/client.js';
import { Job } from '../src/client/job.js';
import { Session } from '../src/client/session.js';
import { API_KEY, fakeNova } from './helpers/fake-nova.js';

const FAST = { minIntervalMs: 0, maxIntervalMs: 2 };

describe('where the API key comes from', () => {
  let config: string;
  beforeEach(() => {
    config = mkdtempSync(join(tmpdir(), 'anc-config-'));
    vi.stubEnv('XDG_CONFIG_HOME', config);
    vi.stubEnv('ASTROMETRY_API_KEY', '');
  });
  afterEach(() => vi.unstubAllEnvs());

  test('without any key, reading a public job works and makes no login', async () => {
    const transport = fakeNova();
    const session = new Session({ apiUrl: 'http://127.0.0.1:9/api/', transport, polling: FAST });
    const job = Job.byId(202, session);
    expect((await job.calibration()).ra).toBe(187);
    expect(transport.requests.map((r) => r.path)).toEqual(['/api/jobs/202', '/api/jobs/202/calibration']);
  });

  test('without any key, a solve fails with code auth naming where a key can come from, before any request', async () => {
    const transport = fakeNova();
    const client = new Client({ apiUrl: 'http://127.0.0.1:9/api/', transport, polling: FAST });
    const error = (await client.solve('https://example.org/a.png').catch((e: unknown) => e)) as Error & { code: string };
    expect(error.code).toBe('auth');
    expect(error.message).toContain('ASTROMETRY_API_KEY');
    expect(error.message).toContain(join(config, 'astrometry-net', 'api-key'));
    expect(transport.requests).toEqual([]);
  });

  test('the environment, then the key file, is used at the first login', async () => {
    mkdirSync(join(config, 'astrometry-net'));
    writeFileSync(join(config, 'astrometry-net', 'api-key'), `${API_KEY}\n`);
    const transport = fakeNova();
    await new Client({ apiUrl: 'http://127.0.0.1:9/api/', transport, polling: FAST }).solve('https://example.org/a.png');
    expect(transport.requests[0]?.json).toEqual({ apikey: API_KEY });

    vi.stubEnv('ASTROMETRY_API_KEY', 'fromenvironmentx');
    const second = fakeNova();
    await new Client({ apiUrl: 'http://127.0.0.1:9/api/', transport: second, polling: FAST }).solve('https://example.org/a.png');
    expect(second.requests[0]?.json).toEqual({ apikey: 'fromenvironmentx' });
  });

  test('an explicit empty key is refused at once', () => {
    expect(() => new Session({ apiKey: ' ' })).toThrow(/apiKey/);
  });
});
