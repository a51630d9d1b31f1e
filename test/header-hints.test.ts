/**
 * Hints from a FITS header, and sequences hinted by the frame before, against
 * `astrometry-net serve` on the real solver. The frames are small.fits with the cards a capture
 * program writes (OBJCTRA/OBJCTDEC, FOCALLEN, XPIXSZ, XBINNING); what each upload carried is
 * read from the request itself, and every upload is counted.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Client, JobFailedError, type SolveManyOutcome } from '../src/index.js';
import type { Transport, TransportRequest } from '../src/transport/transport.js';
import { undiciTransport } from '../src/transport/undici.js';
import { buildCli, FIXTURES, runCli } from './helpers/cli-run.js';
import { captureCards, smallField, type FixtureTruth, type Frame } from './helpers/hinted-fits.js';
import { expectNear, randomApiKey, startServe, type Serve } from './helpers/serve-process.js';

const API_KEY = randomApiKey();
const POLLING = { minIntervalMs: 100, maxIntervalMs: 500 };
let serve: Serve;
let dir: string;
let dataDir: string;
let truth: FixtureTruth;
let frame: Awaited<ReturnType<typeof smallField>>['frame'];
let hinted: Frame;
let hintedPath: string;

/** The JSON options of every upload a client sends. */
function recording(inner: Transport = undiciTransport()): Transport & { uploads: Record<string, unknown>[] } {
  const uploads: Record<string, unknown>[] = [];
  return {
    uploads,
    request(req: TransportRequest) {
      if (new URL(req.url).pathname.endsWith('/upload')) {
        const body = req.body;
        const json = body?.kind === 'multipart' || body?.kind === 'form' ? body.fields['request-json'] : undefined;
        uploads.push(JSON.parse(json ?? '{}') as Record<string, unknown>);
      }
      return inner.request(req);
    },
  };
}

function client(transport: Transport): Client {
  return new Client({ apiUrl: serve.apiUrl, apiKey: API_KEY, polling: POLLING, timeoutMs: 60_000, transport });
}

/** Seconds solve-field ran for these jobs, from the server's own job records. */
function solverSeconds(jobIds: readonly number[]): number {
  const db = new Database(path.join(dataDir, 'astrometry-net.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare(`SELECT SUM(ended_at - started_at) AS micros FROM jobs WHERE id IN (${jobIds.map(() => '?').join(',')})`).get(...jobIds) as { micros: number };
    return row.micros / 1e6;
  } finally {
    db.close();
  }
}

const near = (frameCentre: { ra: number; dec: number }) => ({ ...truth, ra: frameCentre.ra, dec: frameCentre.dec });

beforeAll(async () => {
  await buildCli();
  dir = await mkdtemp(path.join(tmpdir(), 'header-hints-'));
  dataDir = path.join(dir, 'data');
  ({ truth, frame } = await smallField());
  // The mount's pointing, 0.3° off the true centre, as a real mount's would be.
  hinted = frame(0, 0, captureCards({ ra: truth.ra + 0.3, dec: truth.dec - 0.2 }, truth.scale_arcsec));
  hintedPath = path.join(dir, 'light-0001.fits');
  await writeFile(hintedPath, hinted.bytes);
  serve = await startServe(API_KEY, ['--data-dir', dataDir, '--concurrency', '1']);
}, 60_000);

afterAll(async () => {
  serve?.child.kill('SIGTERM');
  await serve?.exit;
  if (dir) await rm(dir, { recursive: true, force: true });
});

const figures: Record<string, number> = {};

describe('hints from the header', () => {
  test('the upload carries the header pointing, a radius and a ±10 % scale range around the true scale; it solves to truth', async () => {
    const transport = recording();
    const progress: string[] = [];
    const result = await client(transport).solve(hintedPath, { onStart: (s) => progress.push(JSON.stringify(s.handle.snapshot.context.upload?.hints?.position?.from)) });
    expect(transport.uploads).toHaveLength(1);
    const sent = transport.uploads[0]!;
    expect(sent.center_ra as number).toBeCloseTo(truth.ra + 0.3, 3);
    expect(sent.center_dec as number).toBeCloseTo(truth.dec - 0.2, 3);
    // The field's half diagonal (640 × 480 px at 45″: 5°) plus as much again.
    expect(sent.radius as number).toBeGreaterThan(5);
    expect(sent.radius as number).toBeLessThan(11);
    expect(sent.scale_units).toBe('arcsecperpix');
    expect(sent.scale_type).toBe('ul');
    expect(sent.scale_lower as number).toBeLessThan(truth.scale_arcsec);
    expect(sent.scale_upper as number).toBeGreaterThan(truth.scale_arcsec);
    expect((sent.scale_upper as number) / (sent.scale_lower as number)).toBeCloseTo(1.1 / 0.9, 2);
    expectNear(result.calibration.ra, result.calibration.dec, result.calibration.pixscale, truth);
    expect(result.hints?.position?.from).toBe('OBJCTRA/OBJCTDEC');
    expect(result.hints?.scale?.from).toBe('FOCALLEN/XPIXSZ');
    expect(result.retriedBlind).toBe(false);
    expect(progress).toEqual(['"OBJCTRA/OBJCTDEC"']);
    figures.hintedSingle = solverSeconds([result.jobId]);
  }, 90_000);

  test('headerHints: false sends no position and no scale', async () => {
    const transport = recording();
    const result = await client(transport).solve({ bytes: hinted.bytes, filename: 'light.fits' }, { headerHints: false });
    expect(transport.uploads).toHaveLength(1);
    for (const key of ['center_ra', 'center_dec', 'radius', 'scale_units', 'scale_lower', 'scale_upper']) expect(transport.uploads[0]).not.toHaveProperty(key);
    expect(result.hints).toBeNull();
    expectNear(result.calibration.ra, result.calibration.dec, result.calibration.pixscale, truth);
    figures.blindSingle = solverSeconds([result.jobId]);
  }, 90_000);

  test('explicit options win over the header: a given scale and position are sent as given', async () => {
    const transport = recording();
    const result = await client(transport).solve(hintedPath, { scaleUnits: 'degwidth', scaleLower: 5, scaleUpper: 10, centerRa: truth.ra, centerDec: truth.dec, radius: 3 });
    expect(transport.uploads).toHaveLength(1);
    expect(transport.uploads[0]).toMatchObject({ scale_units: 'degwidth', scale_lower: 5, scale_upper: 10, center_ra: truth.ra, center_dec: truth.dec, radius: 3 });
    expect(result.hints).toBeNull();
  }, 90_000);

  test('a wrong pointing: the hinted solve fails, and one blind upload solves it (two uploads); strict stops at the first', async () => {
    const wrong = frame(0, 0, captureCards({ ra: truth.ra + 150, dec: -truth.dec }, truth.scale_arcsec));
    const transport = recording();
    const starts: (number | null)[] = [];
    const result = await client(transport).solve({ bytes: wrong.bytes, filename: 'wrong.fits' }, { onStart: () => starts.push(starts.length) });
    expect(transport.uploads).toHaveLength(2);
    expect(transport.uploads[0]).toHaveProperty('center_ra');
    expect(transport.uploads[0]).toHaveProperty('scale_lower');
    for (const key of ['center_ra', 'center_dec', 'radius', 'scale_units', 'scale_lower', 'scale_upper']) expect(transport.uploads[1]).not.toHaveProperty(key);
    expect(result.retriedBlind).toBe(true);
    expect(result.hints?.retryOf?.jobId).toEqual(expect.any(Number));
    expect(starts).toHaveLength(2);
    expectNear(result.calibration.ra, result.calibration.dec, result.calibration.pixscale, truth);

    const strict = recording();
    await expect(client(strict).solve({ bytes: wrong.bytes, filename: 'wrong.fits' }, { headerHints: 'strict' })).rejects.toBeInstanceOf(JobFailedError);
    expect(strict.uploads).toHaveLength(1);
  }, 120_000);

  test('a bad headerHints is refused before any request', async () => {
    const transport = recording();
    await expect(client(transport).solve(hintedPath, { headerHints: 'yes' as never })).rejects.toMatchObject({ code: 'validation', option: 'headerHints' });
    await expect(async () => {
      for await (const _ of client(transport).solveMany([hintedPath], { sequence: 'yes' as never })) break;
    }).rejects.toMatchObject({ code: 'validation', option: 'sequence' });
    expect(transport.uploads).toHaveLength(0);
  });
});

describe('sequences', () => {
  /** Four dithered frames; only the first carries the capture cards. */
  const dithers: [number, number][] = [[0, 0], [14, 9], [-11, 17], [23, -13]];

  async function solveSequence(frames: Frame[], options: { sequence: boolean; headerHints?: boolean }) {
    const transport = recording();
    const outcomes: SolveManyOutcome[] = [];
    for await (const o of client(transport).solveMany(frames.map((f, i) => ({ bytes: f.bytes, filename: `light-${i + 1}.fits` })), options)) outcomes.push(o);
    outcomes.sort((a, b) => a.index - b.index);
    return { outcomes, uploads: transport.uploads };
  }

  test('a dithered sequence of 4 frames solves to truth, frames 2–4 hinted by the solution before', async () => {
    const frames = dithers.map(([dx, dy], i) => frame(dx, dy, i === 0 ? captureCards({ ra: truth.ra + 0.3, dec: truth.dec - 0.2 }, truth.scale_arcsec) : []));
    const { outcomes, uploads } = await solveSequence(frames, { sequence: true });
    expect(uploads).toHaveLength(4);
    for (const [i, o] of outcomes.entries()) {
      expect(o.error, `frame ${i + 1}`).toBeNull();
      expectNear(o.calibration!.ra, o.calibration!.dec, o.calibration!.pixscale, near(frames[i]!.centre));
    }
    expect(outcomes[0]!.hints?.position?.from).toBe('OBJCTRA/OBJCTDEC');
    for (let i = 1; i < 4; i++) {
      const o = outcomes[i]!;
      const before = outcomes[i - 1]!.calibration!;
      expect(o.hints?.position?.from, `frame ${i + 1}`).toBe('previous frame');
      expect(o.hints?.scale?.from).toBe('previous frame');
      expect(uploads[i]!.center_ra as number).toBeCloseTo(before.ra, 5);
      expect(uploads[i]!.center_dec as number).toBeCloseTo(before.dec, 5);
      expect(uploads[i]!.radius as number).toBeGreaterThan(before.radius);
      expect(uploads[i]!.scale_lower as number).toBeCloseTo(before.pixscale * 0.9, 4);
      expect(uploads[i]!.scale_upper as number).toBeCloseTo(before.pixscale * 1.1, 4);
    }
    figures.hintedSequence = solverSeconds(outcomes.map((o) => o.jobId!));

    const blind = await solveSequence(frames, { sequence: false, headerHints: false });
    expect(blind.uploads).toHaveLength(4);
    for (const u of blind.uploads) expect(u).not.toHaveProperty('center_ra');
    for (const [i, o] of blind.outcomes.entries()) expectNear(o.calibration!.ra, o.calibration!.dec, o.calibration!.pixscale, near(frames[i]!.centre));
    figures.blindSequence = solverSeconds(blind.outcomes.map((o) => o.jobId!));
  }, 240_000);

  test('a frame of another field in a sequence: its hinted solve fails and a blind upload solves it', async () => {
    const first = frame(0, 0);
    const orion = { bytes: new Uint8Array(await import('node:fs/promises').then((fs) => fs.readFile(path.join(FIXTURES, 'orion.png')))) };
    const transport = recording();
    const outcomes: SolveManyOutcome[] = [];
    for await (const o of client(transport).solveMany([{ bytes: first.bytes, filename: 'a.fits' }, { bytes: orion.bytes, filename: 'orion.png' }], { sequence: true })) outcomes.push(o);
    // small.fits blind, orion hinted by it (fails), orion blind.
    expect(transport.uploads).toHaveLength(3);
    expect(transport.uploads[1]).toHaveProperty('center_ra');
    expect(transport.uploads[2]).not.toHaveProperty('center_ra');
    const o = outcomes.find((x) => x.index === 1)!;
    expect(o.error).toBeNull();
    expect(o.hints?.retryOf).not.toBeNull();
    expect(o.calibration!.ra).toBeCloseTo(84, 1);
  }, 180_000);
});

describe('CLI', () => {
  test('--no-header-hints sends no position; --sequence hints frames 2–4 and says so', async () => {
    const frames = [frame(0, 0, captureCards({ ra: truth.ra + 0.3, dec: truth.dec - 0.2 }, truth.scale_arcsec)), frame(14, 9), frame(-11, 17)];
    const paths = frames.map((_, i) => path.join(dir, `seq-${i + 1}.fits`));
    for (const [i, f] of frames.entries()) await writeFile(paths[i]!, f.bytes);
    const r = await runCli(['solve', ...paths, '--api-url', serve.apiUrl, '--api-key', API_KEY, '--sequence', '--out', path.join(dir, 'out-seq'), '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { inputs: { hints: { position: { from: string } | null } | null; calibration: { ra: number; dec: number; pixscale: number } }[] };
    expect(doc.inputs.map((i) => i.hints?.position?.from)).toEqual(['OBJCTRA/OBJCTDEC', 'previous frame', 'previous frame']);
    expect(r.stderr).toContain('in sequence, each hinted by the one before');
    expect(r.stderr).toMatch(/seq-2\.fits .*\[hinted: position from previous frame/);
    for (const [i, input] of doc.inputs.entries()) expectNear(input.calibration.ra, input.calibration.dec, input.calibration.pixscale, near(frames[i]!.centre));

    const off = await runCli(['solve', paths[0]!, '--api-url', serve.apiUrl, '--api-key', API_KEY, '--no-header-hints', '--out', path.join(dir, 'out-off'), '--json'], { cwd: dir });
    expect(off.code, off.stderr).toBe(0);
    expect((JSON.parse(off.stdout) as { inputs: { hints: unknown }[] }).inputs[0]!.hints).toBeNull();
  }, 240_000);
});

describe('CLI on a capture program\'s FITS, with the real solver', () => {
  test('quality() counts one matched star per row of the corr file; a renamed copy is answered by the solve cache with no upload', async () => {
    const submissions = () => {
      const db = new Database(path.join(dataDir, 'astrometry-net.sqlite'), { readonly: true, fileMustExist: true });
      try {
        return (db.prepare('SELECT COUNT(*) AS n FROM submissions').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    // One state folder for both runs: the solve cache lives there.
    const env = { XDG_STATE_HOME: path.join(dir, 'state-cache') };
    const original = path.join(dir, 'capture-0001.fits');
    await writeFile(original, hinted.bytes);
    const before = submissions();
    const first = await runCli(['solve', original, '--api-url', serve.apiUrl, '--api-key', API_KEY, '--corr', '--out', path.join(dir, 'out-cache-1'), '--json'], { cwd: dir, env, timeoutMs: 120_000 });
    expect(first.code, first.stderr).toBe(0);
    type Doc = { inputs: { fromCache: boolean; jobId: number; quality: { matchedStars: number } | null; files: { corr?: string }; hints: { position: { from: string } | null } | null }[] };
    const one = (JSON.parse(first.stdout) as Doc).inputs[0]!;
    expect(one.hints?.position?.from).toBe('OBJCTRA/OBJCTDEC');
    expect(submissions()).toBe(before + 1);
    // The corr file the CLI wrote: one row per matched star.
    const { readBinTable } = await import('../src/fits/index.js');
    const { readFile } = await import('node:fs/promises');
    const corr = readBinTable(new Uint8Array(await readFile(one.files.corr!)));
    expect(one.quality?.matchedStars).toBe(corr?.rows);
    expect(one.quality?.matchedStars).toBeGreaterThan(0);

    const renamed = path.join(dir, 'renamed copy.fits');
    await writeFile(renamed, hinted.bytes);
    const second = await runCli(['solve', renamed, '--api-url', serve.apiUrl, '--api-key', API_KEY, '--out', path.join(dir, 'out-cache-2'), '--json'], { cwd: dir, env, timeoutMs: 120_000 });
    expect(second.code, second.stderr).toBe(0);
    const two = (JSON.parse(second.stdout) as Doc).inputs[0]!;
    expect(two).toMatchObject({ fromCache: true, jobId: one.jobId, quality: one.quality });
    expect(submissions()).toBe(before + 1);
    expect(second.stderr).toContain('from the cache');
  }, 240_000);
});

afterAll(() => {
  const f = (n: number | undefined) => (n === undefined ? '-' : `${n.toFixed(2)} s`);
  console.log(
    `solver time (serve's job records, solve-field started → ended): single field hinted ${f(figures.hintedSingle)} vs blind ${f(figures.blindSingle)}; ` +
      `4-frame sequence hinted ${f(figures.hintedSequence)} vs blind ${f(figures.blindSequence)}`,
  );
});
