/**
 * Source lists are read as streams within a row budget (maxSourceRows, --max-source-rows,
 * default 1 000 000): past it the submission fails in nova's error shape (error_message, or the
 * upload's errormessage for x/y lists), and serve's memory stays bounded whatever the file's size.
 * Before, a 100 MB text list of `1 1` lines took serve to 2.8 GB for 41 s.
 */
import { createWriteStream, openAsBlob, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { binTable, emptyPrimary } from 'astrometry-net-client/fits';
import { startServer, type RunningServer } from '../src/index.js';
import { parseTextList, probeBuffer, probeFile, type Probe } from '../src/probe.js';
import { randomApiKey, startServeWith, type Serve } from '../../test/helpers/serve-process.js';

const dirs: string[] = [];
const servers: RunningServer[] = [];
const serves: Serve[] = [];
afterAll(async () => {
  for (const s of serves) s.child.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'source-rows-'));
  dirs.push(d);
  return d;
}

async function session(apiUrl: string, key: string): Promise<string> {
  const body = new URLSearchParams({ 'request-json': JSON.stringify({ apikey: key }) });
  return ((await (await fetch(`${apiUrl}login`, { method: 'POST', body })).json()) as { session: string }).session;
}

async function upload(apiUrl: string, key: string, file: Blob, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const form = new FormData();
  form.set('request-json', JSON.stringify({ session: await session(apiUrl, key), ...extra }));
  form.set('file', file, 'stars.txt');
  return (await (await fetch(`${apiUrl}upload`, { method: 'POST', body: form })).json()) as Record<string, unknown>;
}

/** Polls the submission until ingestion ended: its error_message, or null once it has a user image. */
async function ingested(apiUrl: string, subid: number, timeoutMs = 30_000): Promise<string | null> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const sub = (await (await fetch(`${apiUrl}submissions/${subid}`)).json()) as { error_message?: string; processing_finished: string };
    if (sub.error_message) return sub.error_message;
    if (sub.processing_finished !== 'None') return null;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`submission ${subid} not ingested within ${timeoutMs} ms`);
}

/** Columns as plain arrays: the streamed reader keeps Float64Arrays. */
const plain = (p: Probe) => (p.kind === 'xylist' ? { ...p, x: Array.from(p.x), y: Array.from(p.y) } : p);

const text = (rows: number) => Array.from({ length: rows }, (_, i) => `${i + 1.5} ${2 * i + 3}`).join('\n') + '\n';
const table = (rows: number) =>
  Buffer.concat([
    emptyPrimary(),
    binTable([
      { name: 'X', type: 'D', values: Array.from({ length: rows }, (_, i) => i + 1) },
      { name: 'Y', type: 'E', values: Array.from({ length: rows }, (_, i) => 2 * i + 1) },
    ]),
  ]);

describe('source lists within the row budget', () => {
  it('fails a text list, a FITS table and x/y lists past maxSourceRows, and takes them at the budget', async () => {
    const s = await startServer({ port: 0, solver: 'simulated', maxSourceRows: 10, simulated: { ingestMs: 0, queueMs: 0 } });
    servers.push(s);
    const key = s.apiKeys[0] as string;

    const over = await upload(s.url, key, new Blob([text(11)]));
    const overError = await ingested(s.url, over['subid'] as number);
    expect(overError).toMatch(/\nValueError: the source list has more than 10 rows; this server reads at most 10 \(--max-source-rows\)\n$/);
    expect(overError).toMatch(/^(Caught exception|\.\.\.)/);
    expect(await ingested(s.url, (await upload(s.url, key, new Blob([text(10)])))['subid'] as number)).toBeNull();

    const fitsOver = await upload(s.url, key, new Blob([table(11)]));
    expect(await ingested(s.url, fitsOver['subid'] as number)).toMatch(/ValueError: the source list has 11 rows; this server reads at most 10 \(--max-source-rows\)\n$/);
    expect(await ingested(s.url, (await upload(s.url, key, new Blob([table(10)])))['subid'] as number)).toBeNull();

    const form = new FormData();
    const xs = Array.from({ length: 11 }, (_, i) => i + 1);
    form.set('request-json', JSON.stringify({ session: await session(s.url, key), x: xs, y: xs }));
    const r = await fetch(`${s.url}upload`, { method: 'POST', body: form });
    expect(await r.text()).toBe('{"status": "error", "errormessage": "\\"x\\" and \\"y\\" lists have 11 items; this server reads at most 10 (--max-source-rows)"}');
  });

  it('reads text and FITS tables as streams with the same result as whole, across read boundaries', async () => {
    const dir = await tempDir();
    const lines: string[] = ['# x y flux', ''];
    for (let i = 0; i < 200_000; i++) lines.push(`${(i % 4000) + 0.25}\t${Math.floor(i / 50) + 1}e0 ${i}${i % 7 === 0 ? '\r' : ''}`);
    const body = Buffer.from(lines.join('\n'));
    await writeFile(join(dir, 'list.txt'), body);
    const streamed = await probeFile(join(dir, 'list.txt'));
    expect(plain(streamed)).toEqual(plain(probeBuffer(body)));
    expect(streamed).toMatchObject({ kind: 'xylist', source: 'text', width: 4000, height: 4000 });
    expect((parseTextList(body)?.x.length)).toBe(200_000);
    // Bad lines anywhere, a NUL, broken UTF-8: not a source list, as before.
    for (const bad of [Buffer.concat([body, Buffer.from('\n1 2 x\n')]), Buffer.from('1 2\n3\u00004\n'), Buffer.from([0x31, 0x20, 0x32, 0x0a, 0xc3, 0x28, 0x0a])]) {
      await writeFile(join(dir, 'bad.txt'), bad);
      expect(await probeFile(join(dir, 'bad.txt'))).toEqual({ kind: 'unsupported', error: "Exception: This file's type is not supported." });
    }
    const fits = table(300_000);
    await writeFile(join(dir, 'list.fits'), fits);
    expect(plain(await probeFile(join(dir, 'list.fits')))).toEqual(plain(probeBuffer(fits)));
    expect(await probeFile(join(dir, 'list.fits'), 299_999)).toEqual({ kind: 'unsupported', error: 'ValueError: the source list has 300000 rows; this server reads at most 299999 (--max-source-rows)' });
    // A truncated table is no source list.
    await writeFile(join(dir, 'cut.fits'), fits.subarray(0, fits.length - 2880 * 200));
    expect(await probeFile(join(dir, 'cut.fits'))).toEqual({ kind: 'unsupported', error: "Exception: This file's type is not supported." });
  });

  it("keeps serve's memory bounded on a 100 MB text list of `1 1` lines (peak RSS printed)", async () => {
    const dir = await tempDir();
    const path = join(dir, 'ones.txt');
    const out = createWriteStream(path);
    const block = Buffer.from('1 1\n'.repeat(250_000)); // 1 MB
    for (let i = 0; i < 100; i++) if (!out.write(block)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    const key = randomApiKey();
    const serve = await startServeWith(['--port', '0', '--solver', 'simulated', '--api-key', key, '--data-dir', join(dir, 'data')]);
    serves.push(serve);
    const pid = serve.child.pid as number;
    const vm = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
    const before = vm('VmRSS');
    const started = performance.now();
    const answer = await upload(serve.apiUrl, key, await openAsBlob(path));
    expect(answer['status']).toBe('success');
    const error = await ingested(serve.apiUrl, answer['subid'] as number, 60_000);
    const seconds = (performance.now() - started) / 1000;
    const peak = vm('VmHWM');
    console.log(`source rows: serve ingested a 100 MB list of "1 1" lines in ${seconds.toFixed(1)} s; RSS ${before.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB`);
    expect(error).toMatch(/ValueError: the source list has more than 1000000 rows; this server reads at most 1000000 \(--max-source-rows\)\n$/);
    expect(peak).toBeLessThan(200);
    serve.child.kill('SIGTERM');
    expect((await serve.exit).code).toBe(0);
  });
});
