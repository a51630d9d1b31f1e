/**
 * The pixel budget: an image whose header declares more than `maxPixels` (default 250 million)
 * fails its job at once, with a failure_reason and a job-log line naming its size and the limit,
 * before solve-field or any conversion runs. A tiny PNG whose IHDR claims 20 000 x 20 000 made
 * the solver hold 3.8 GB for 113 s before. The real solver backend, with solve-field wrapped so
 * that each run leaves a mark.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerBytes } from 'astrometry-net-client/fits';
import { parseServeArgs } from '../src/cli.js';
import { declaredImageSize, pixelBudgetExceeded } from '../src/declared-size.js';
import { startServer, type RunningServer } from '../src/index.js';
import { encodePng } from '../src/render.js';

const dirs: string[] = [];
const servers: RunningServer[] = [];
let wrapperDir = '';
let marker = '';
const savedPath = process.env['PATH'];

beforeAll(async () => {
  // solve-field, as found in PATH, becomes a wrapper noting every solve it is asked for.
  wrapperDir = await mkdtemp(join(tmpdir(), 'pixel-budget-bin-'));
  dirs.push(wrapperDir);
  marker = join(wrapperDir, 'solves');
  const real = (process.env['PATH'] ?? '').split(':').map((d) => join(d, 'solve-field')).find((p) => existsSync(p));
  if (!real) throw new Error('solve-field is not installed (scripts/install-solver.sh)');
  const script = join(wrapperDir, 'solve-field');
  await writeFile(script, `#!/bin/sh\n[ "$1" = "--version" ] || echo "$@" >> '${marker}'\nexec '${real}' "$@"\n`);
  await chmod(script, 0o755);
  process.env['PATH'] = `${wrapperDir}:${savedPath ?? ''}`;
});

afterAll(async () => {
  process.env['PATH'] = savedPath;
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A valid 1 x 1 PNG whose IHDR then claims `width` x `height` (CRC fixed): 60-odd bytes. */
function pngClaiming(width: number, height: number): Buffer {
  const png = Buffer.from(encodePng({ width: 1, height: 1, channels: 1, data: new Uint8Array([128]) }));
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

async function session(s: RunningServer): Promise<string> {
  const body = new URLSearchParams({ 'request-json': JSON.stringify({ apikey: s.apiKeys[0] }) });
  return ((await (await fetch(`${s.url}login`, { method: 'POST', body })).json()) as { session: string }).session;
}

async function upload(s: RunningServer, bytes: Uint8Array, name: string): Promise<number> {
  const form = new FormData();
  form.set('request-json', JSON.stringify({ session: await session(s) }));
  form.set('file', new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  return ((await (await fetch(`${s.url}upload`, { method: 'POST', body: form })).json()) as { subid: number }).subid;
}

/** Polls (every 10 ms) until the submission's job has ended; resolves with its id and status body. */
async function jobEnd(s: RunningServer, subid: number, timeoutMs: number): Promise<{ jobId: number; job: Record<string, unknown> }> {
  const until = Date.now() + timeoutMs;
  let jobId: number | null = null;
  while (Date.now() < until) {
    if (jobId === null) {
      const sub = (await (await fetch(`${s.url}submissions/${subid}`)).json()) as { jobs: (number | null)[]; error_message?: string };
      if (sub.error_message) throw new Error(`ingest failed: ${sub.error_message}`);
      jobId = sub.jobs[0] ?? null;
    }
    if (jobId !== null) {
      const job = (await (await fetch(`${s.url}jobs/${jobId}`)).json()) as Record<string, unknown>;
      if (job['status'] === 'success' || job['status'] === 'failure') return { jobId, job };
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`submission ${subid}: no finished job within ${timeoutMs} ms`);
}

async function solveFieldServer(extra: Parameters<typeof startServer>[0] = {}): Promise<{ s: RunningServer; lines: string[] }> {
  const lines: string[] = [];
  const s = await startServer({ port: 0, solver: 'solve-field', log: (l) => lines.push(l), ...extra });
  servers.push(s);
  return { s, lines };
}

describe('the pixel budget', () => {
  it('fails a PNG whose IHDR claims 20 000 x 20 000 in under a second, naming size and limit, without running solve-field', async () => {
    const { s, lines } = await solveFieldServer();
    const png = pngClaiming(20_000, 20_000);
    expect(png.length).toBeLessThan(100);
    const started = performance.now();
    const subid = await upload(s, png, 'huge.png');
    const { jobId, job } = await jobEnd(s, subid, 10_000);
    const elapsed = performance.now() - started;
    console.log(`pixel budget: the 20 000 x 20 000 PNG was refused ${elapsed.toFixed(0)} ms after its upload began`);
    expect(elapsed).toBeLessThan(1000);
    expect(job['status']).toBe('failure');
    const reason = String(job['failure_reason']);
    expect(reason).toContain('20000 × 20000 pixels (400 megapixels)');
    expect(reason).toContain("this server's limit of 250 megapixels (--max-pixels 250000000)");
    const info = (await (await fetch(`${s.url}jobs/${jobId}/info`)).json()) as Record<string, unknown>;
    expect(info['failure_reason']).toBe(reason);
    const log = await (await fetch(`${s.origin}/joblog/${jobId}`)).text();
    expect(log).toContain(`solve-field: not run: ${reason}`);
    expect(existsSync(marker)).toBe(false);
    expect(lines.join('\n')).not.toContain('solve-field: running');
  });

  it('is raised by maxPixels (--max-pixels): the same PNG then goes to solve-field', async () => {
    const { s } = await solveFieldServer({ maxPixels: 400_000_000 });
    const subid = await upload(s, pngClaiming(20_000, 20_000), 'huge.png');
    const { job } = await jobEnd(s, subid, 60_000);
    expect(job['status']).toBe('failure');
    expect(job['failure_reason'] ?? '').not.toContain('megapixels');
    // The wrapper saw the solve: the first test's "no solve-field ran" is not vacuous.
    expect(await readFile(marker, 'utf8')).toMatch(/images\/\d+\/file\n$/);
    const info = (await (await fetch(`${s.url}server_info`)).json()) as { limits: Record<string, unknown> };
    expect(info.limits['max_pixels']).toBe(400_000_000);
  });

  it('reads the size from PNG, JPEG (past large APP segments), FITS (image in an extension, gzip as a capped stream) headers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'declared-size-'));
    dirs.push(dir);
    const put = async (name: string, bytes: Uint8Array) => {
      const p = join(dir, name);
      await writeFile(p, bytes);
      return p;
    };
    expect(await declaredImageSize(await put('a.png', pngClaiming(20_000, 20_000)))).toEqual({ format: 'png', width: 20_000, height: 20_000 });
    // JPEG: SOI, two 64 KiB APP1 segments (more than a head read would hold), SOF0 for 30000 x 12000.
    const app = Buffer.alloc(65_535 + 2);
    app.writeUInt16BE(0xffe1, 0);
    app.writeUInt16BE(65_535, 2);
    const sof = Buffer.from([0xff, 0xc0, 0, 11, 8, 0, 0, 0, 0, 1, 1, 0x11, 0]);
    sof.writeUInt16BE(12_000, 5);
    sof.writeUInt16BE(30_000, 7);
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8]), app, app, sof, Buffer.from([0xff, 0xd9])]);
    expect(await declaredImageSize(await put('a.jpg', jpeg))).toEqual({ format: 'jpeg', width: 30_000, height: 12_000 });
    // FITS: an empty primary, a BINTABLE of 5 MB, then a 40 000 x 40 000 IMAGE extension with no data at all.
    const primary = headerBytes([{ keyword: 'SIMPLE', value: true }, { keyword: 'BITPIX', value: 8 }, { keyword: 'NAXIS', value: 0 }, { keyword: 'EXTEND', value: true }]);
    const tableRows = 625_000;
    const table = headerBytes([
      { keyword: 'XTENSION', value: 'BINTABLE' },
      { keyword: 'BITPIX', value: 8 },
      { keyword: 'NAXIS', value: 2 },
      { keyword: 'NAXIS1', value: 8 },
      { keyword: 'NAXIS2', value: tableRows },
      { keyword: 'PCOUNT', value: 0 },
      { keyword: 'GCOUNT', value: 1 },
      { keyword: 'TFIELDS', value: 1 },
      { keyword: 'TTYPE1', value: 'V' },
      { keyword: 'TFORM1', value: 'D' },
    ]);
    const tableData = Buffer.alloc(Math.ceil((8 * tableRows) / 2880) * 2880);
    const image = headerBytes([
      { keyword: 'XTENSION', value: 'IMAGE' },
      { keyword: 'BITPIX', value: -32 },
      { keyword: 'NAXIS', value: 2 },
      { keyword: 'NAXIS1', value: 40_000 },
      { keyword: 'NAXIS2', value: 40_000 },
      { keyword: 'PCOUNT', value: 0 },
      { keyword: 'GCOUNT', value: 1 },
    ]);
    const fits = Buffer.concat([primary, table, tableData, image]);
    expect(await declaredImageSize(await put('a.fits', fits))).toEqual({ format: 'fits', width: 40_000, height: 40_000 });
    expect(await declaredImageSize(await put('a.fits.gz', gzipSync(fits)))).toEqual({ format: 'fits', width: 40_000, height: 40_000 });
    // A gzip bomb: a FITS primary whose data (a terabyte, says NAXIS1) hides what follows, then
    // 96 MiB of zeros in 100 kB: the walk over the data stops at the inflation cap (64 MiB).
    const hidden = headerBytes([{ keyword: 'SIMPLE', value: true }, { keyword: 'BITPIX', value: 8 }, { keyword: 'NAXIS', value: 1 }, { keyword: 'NAXIS1', value: 1e12 }]);
    const bomb = gzipSync(Buffer.concat([hidden, Buffer.alloc(96 * 1024 * 1024)]));
    expect(bomb.length).toBeLessThan(200_000);
    const t0 = performance.now();
    expect(await declaredImageSize(await put('bomb.fits.gz', bomb))).toBeNull();
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(pixelBudgetExceeded({ width: 15_811, height: 15_811 }, 250_000_000)).toBeNull();
    expect(pixelBudgetExceeded({ width: 15_812, height: 15_812 }, 250_000_000)).toMatch(/^the image declares 15812 × 15812 pixels \(250 megapixels\)/);
  });

  it('serve takes --max-pixels and --max-source-rows', () => {
    expect(parseServeArgs(['--max-pixels', '400000000', '--max-source-rows=5000'])).toMatchObject({ maxPixels: 400_000_000, maxSourceRows: 5000 });
    expect(() => parseServeArgs(['--max-pixels', '2.5e8'])).toThrow(/--max-pixels: invalid value "2.5e8"; allowed: a positive whole number of pixels/);
    expect(() => parseServeArgs(['--max-source-rows', '0'])).toThrow(/--max-source-rows: invalid value "0"/);
  });
});
