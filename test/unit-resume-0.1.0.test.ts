/**
 * Solves persisted by astrometry-net-client 0.1.0 still resume with this version. The fixtures
 * in test/fixtures/persisted were written by 0.1.0 itself (the build of its release commit),
 * against a scripted nova, at three points: mid-upload, waiting for the job, waiting for the
 * job to end.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Client } from '../src/client/client.js';
import type { PersistedSolve } from '../src/client/started-solve.js';
import { API_KEY, fakeNova, requestLines } from './helpers/fake-nova.js';

const fixture = (stage: string): PersistedSolve =>
  JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'persisted', `solve-0.1.0-${stage}.json`), 'utf8')) as PersistedSolve;

function client() {
  const transport = fakeNova();
  return { transport, client: new Client({ apiKey: API_KEY, apiUrl: 'http://nova.test/api/', transport, polling: { minIntervalMs: 0 } }) };
}

describe('a solve persisted by 0.1.0', () => {
  test('waiting for its job to end: resumes at the job, with no upload and no submission read', async () => {
    const { transport, client: c } = client();
    const result = await c.resume(fixture('jobRunning'));
    expect(result).toMatchObject({ subid: 101, jobId: 202, calibration: { ra: 187 } });
    expect(requestLines(transport.requests)).toEqual(['GET /api/jobs/202?wait=600', 'GET /api/jobs/202/calibration']);
  });

  test('waiting for its job to appear: resumes at the submission, with no upload', async () => {
    const { transport, client: c } = client();
    const result = await c.resume(fixture('submissionPending'));
    expect(result).toMatchObject({ subid: 101, jobId: 202, calibration: { ra: 187 } });
    expect(requestLines(transport.requests)).toEqual(['GET /api/submissions/101?wait=600', 'GET /api/jobs/202?wait=600', 'GET /api/jobs/202/calibration']);
  });

  test('mid-upload: ends in upload_interrupted, and never sends the upload again', async () => {
    const { transport, client: c } = client();
    await expect(c.resume(fixture('uploading'))).rejects.toMatchObject({ code: 'upload_interrupted' });
    expect(requestLines(transport.requests).filter((l) => l.includes('upload'))).toEqual([]);
  });
});
