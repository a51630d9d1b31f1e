/**
 * `astrometry-net` run as a user runs it: the built bin in a child process, real files, a real
 * nova-compatible server on 127.0.0.1 (simulated solver: inputs named *noise* or *fail* fail).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SOLVE_JSON_SCHEMA, type SolveJsonDocument } from '../src/cli/json-schema.js';
import { card, fitsFile, headerCards, int16Image } from './helpers/cli-fits.js';
import { buildCli, FIXTURES, GOOD_KEY, runCli, serverJson, spawnCli, startTestServer, type TestServer } from './helpers/cli-run.js';
import { validate } from './helpers/cli-schema.js';
import { leakedSessionKeys, sessionKeyHashes } from './helpers/session-keys.js';

let nova: TestServer;
let work: string;

beforeAll(async () => {
  await buildCli();
  nova = await startTestServer();
  work = mkdtempSync(join(tmpdir(), 'astrometry-net-cli-solve-'));
  for (const name of ['orion.png', 'south.png', 'noise.png', 'small.png']) copyFileSync(join(FIXTURES, name), join(work, name));
  writeFileSync(join(work, 'field.fits'), FIELD_FITS);
}, 120_000);

afterAll(async () => {
  await nova?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const WIDTH = 40;
const HEIGHT = 30;
const DATA = int16Image(WIDTH, HEIGHT);
/** A FITS image with a stale, different WCS of its own (SIN, CDELT/PC) and cards to keep. */
const FIELD_FITS = fitsFile(
  [
    card('SIMPLE', true, 'conforms to FITS standard'),
    card('BITPIX', 16),
    card('NAXIS', 2),
    card('NAXIS1', WIDTH),
    card('NAXIS2', HEIGHT),
    card('OBJECT', 'M42', 'target'),
    card('DATE-OBS', '2024-01-05T21:03:00'),
    card('CTYPE1', 'RA---SIN'),
    card('CTYPE2', 'DEC--SIN'),
    card('CRVAL1', 1.5),
    card('CRVAL2', -2.5),
    card('CRPIX1', 1),
    card('CRPIX2', 1),
    card('CDELT1', -0.001),
    card('CDELT2', 0.001),
    card('PC1_1', 1),
    card('PC2_2', 1),
    card('EXPTIME', 30.5),
    card('HISTORY', undefined, ' taken with a small refractor'),
  ],
  DATA,
);

const where = () => ['--api-url', nova.url, '--api-key', GOOD_KEY];

/** Keywords a solved WCS brings, per the brief (independent of src/cli/fits.ts). */
function isSolvedWcsKeyword(keyword: string): boolean {
  return (
    /^(CTYPE|CRVAL|CRPIX|CUNIT)[12]$/.test(keyword) ||
    /^CD[12]_[12]$/.test(keyword) ||
    /^(A|B|AP|BP)_(ORDER|\d+_\d+)$/.test(keyword) ||
    ['EQUINOX', 'LONPOLE', 'LATPOLE', 'IMAGEW', 'IMAGEH'].includes(keyword)
  );
}

const keywordOf = (c: string) => c.slice(0, 8).trim();

describe('astrometry-net solve', () => {
  test('a batch with a failing input exits 1, reports each input, pairs every result with its own input, and prints JSON that fits the schema', async () => {
    // The first upload to arrive is held back, so completion order differs from input order.
    nova.server.faults.inject({ endpoint: 'upload', kind: 'slow', delayMs: 1500 });
    const before = nova.uploads();
    const out = join(work, 'batch');
    const r = await runCli(['solve', 'orion.png', 'noise.png', 'south.png', 'field.fits', ...where(), '--out', out, '--json', '-j', '2'], { cwd: work });
    expect(r.code, r.stderr).toBe(1);

    const doc = JSON.parse(r.stdout) as SolveJsonDocument;
    expect(validate(SOLVE_JSON_SCHEMA, doc)).toEqual([]);
    expect(doc.inputs.map((i) => i.input)).toEqual(['orion.png', 'noise.png', 'south.png', 'field.fits']);
    expect(doc.inputs.map((i) => i.status)).toEqual(['success', 'failure', 'success', 'success']);
    expect(doc.summary).toEqual({ total: 4, solved: 3, failed: 1 });
    expect(doc.inputs[1]?.error?.code).toBe('job_failed');
    expect(nova.uploads() - before).toBe(4);

    // Pairing: the server says which file each job solved, and serves the same WCS bytes.
    const subids = new Set(doc.inputs.map((i) => i.subid));
    expect(subids.size).toBe(4);
    for (const item of doc.inputs) {
      const info = await serverJson(nova, `jobs/${item.jobId}/info`);
      expect(info.original_filename).toBe(item.input);
      if (item.status !== 'success') continue;
      const wcsPath = item.files.wcs as string;
      expect(basename(wcsPath)).toBe(`${item.input.replace(/\.[^.]+$/, '')}.wcs.fits`);
      const served = new Uint8Array(await (await fetch(`${nova.server.origin}/wcs_file/${item.jobId}`, { headers: { referer: nova.url } })).arrayBuffer());
      expect(new Uint8Array(readFileSync(wcsPath))).toEqual(served);
      const cal = await serverJson(nova, `jobs/${item.jobId}/calibration`);
      expect(item.calibration).toEqual(cal);
    }
    expect(doc.inputs[3]?.files.solvedFits).toBe(join(out, 'field.solved.fits'));

    // Results were reported as they completed (one upload was held back, so that order is not
    // the input order), and each line names its own input.
    const lines = r.stderr.split('\n');
    const reported = lines.filter((l) => /^(solved|failed) {2}/.test(l)).map((l) => l.split(/\s+/)[1]);
    expect([...reported].sort()).toEqual([...doc.inputs.map((i) => i.input)].sort());
    expect(reported).not.toEqual(doc.inputs.map((i) => i.input));
    for (const item of doc.inputs.filter((i) => i.status === 'success')) {
      const line = lines.find((l) => l.startsWith(`solved  ${item.input} `)) as string;
      expect(line).toContain(`(subid ${item.subid}, job ${item.jobId})`);
      expect(line).toContain(`RA ${item.calibration?.ra.toFixed(5)} Dec ${item.calibration?.dec.toFixed(5)}`);
    }
    expect(lines.find((l) => l.startsWith('failed  noise.png'))).toContain('job_failed');
    expect(r.stderr).toContain('1 of 4 inputs failed');
  });

  test('exit 0 when all solve; a FITS input gets <stem>.solved.fits with the solved WCS merged card by card', async () => {
    const out = join(work, 'fits');
    const r = await runCli(['solve', 'field.fits', ...where(), '--out', out], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^solved {2}field\.fits {2}RA /m);
    expect(r.stdout).toContain('1 input: 1 solved, 0 failed');

    const solved = new Uint8Array(readFileSync(join(out, 'field.solved.fits')));
    const wcs = new Uint8Array(readFileSync(join(out, 'field.wcs.fits')));
    expect(solved.length % 2880).toBe(0);
    const merged = headerCards(solved);
    const original = headerCards(FIELD_FITS);
    const solvedWcs = headerCards(wcs).cards.filter((c) => isSolvedWcsKeyword(keywordOf(c)));
    expect(solvedWcs.map(keywordOf)).toEqual(expect.arrayContaining(['CTYPE1', 'CTYPE2', 'CRVAL1', 'CRVAL2', 'CRPIX1', 'CRPIX2', 'CD1_1', 'CD1_2', 'CD2_1', 'CD2_2']));

    // Mandatory cards first, in order.
    expect(merged.cards.slice(0, 5).map(keywordOf)).toEqual(['SIMPLE', 'BITPIX', 'NAXIS', 'NAXIS1', 'NAXIS2']);
    // Every solved WCS card, byte for byte, exactly once; the image's own version of it is gone.
    for (const c of solvedWcs) {
      expect(merged.cards.filter((m) => keywordOf(m) === keywordOf(c)), keywordOf(c)).toEqual([c]);
    }
    expect(merged.cards.find((c) => keywordOf(c) === 'CTYPE1')).toContain("'RA---TAN'");
    // Non-WCS cards are kept verbatim; the old PC/CDELT convention cannot stay next to CD.
    for (const kept of ['OBJECT', 'DATE-OBS', 'EXPTIME', 'HISTORY', 'BITPIX', 'NAXIS1']) {
      expect(merged.cards, kept).toContain(original.cards.find((c) => keywordOf(c) === kept));
    }
    for (const gone of ['CDELT1', 'CDELT2', 'PC1_1', 'PC2_2']) expect(merged.cards.map(keywordOf)).not.toContain(gone);
    // The data is untouched.
    expect(solved.subarray(merged.dataStart)).toEqual(FIELD_FITS.subarray(original.dataStart));
  });

  test('bad flags exit 2 naming the flag, the value and what is allowed, before any request', async () => {
    const requestsBefore = nova.server.requests.length;
    const cases: [string[], string[]][] = [
      [['--scale-low', '-1'], ['--scale-low', '-1', 'greater than 0']],
      [['--parity', 'sideways'], ['--parity', '"sideways"', '"pos", "neg", "both"']],
      [['--allow-modifications', 'maybe'], ['--allow-modifications', '"maybe"', '"share-alike"']],
      [['--tweak-order', '12'], ['--tweak-order', '12', 'from 0 to 9']],
      [['--ra', '25:00:00', '--dec', '0', '--radius', '1'], ['--ra', '"25:00:00"', '05:35:17.3']],
      [['--ra', '05:35:17.3', '--dec', '-5d23m28s'], ['radius', 'go together']],
      [['--scale-lo', '1'], ['Unknown flag --scale-lo', 'Did you mean --scale-low?']],
      [['--concurrency', 'many'], ['--concurrency', '"many"']],
      [['--focal-length', '500'], ['--focal-length and --pixel-size go together']],
    ];
    const results = await Promise.all(cases.map(([flags]) => runCli(['solve', 'orion.png', ...where(), '--out', join(work, 'bad'), ...flags], { cwd: work })));
    results.forEach((r, i) => {
      const [flags, expected] = cases[i] as [string[], string[]];
      expect(r.code, `${flags.join(' ')}: ${r.stderr}`).toBe(2);
      for (const text of expected) expect(r.stderr, flags.join(' ')).toContain(text);
    });
    const missing = await runCli(['solve', 'nowhere.png', ...where()], { cwd: work });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('No such file or directory: nowhere.png');
    expect(nova.server.requests.length).toBe(requestsBefore);
    expect(existsSync(join(work, 'bad'))).toBe(false);
  });

  test('PNG inputs load no FITS header reader; a FITS input does', async () => {
    // A module hook records which header-hints module the CLI process resolves, if any.
    const hooks = mkdtempSync(join(tmpdir(), 'astrometry-net-cli-hooks-'));
    const log = join(hooks, 'loaded.txt');
    writeFileSync(log, '');
    writeFileSync(
      join(hooks, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, next) { const r = await next(s, c); if (r.url.includes('header-hints')) appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }\n`,
    );
    writeFileSync(join(hooks, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${join(hooks, 'hooks.mjs')}`).href)});\n`);
    // No API key: the run stops right after reading the inputs' headers, before any request.
    const run = (...inputs: string[]) => runCli(['solve', ...inputs, '--api-url', 'http://127.0.0.1:9/api/', '--out', join(work, 'no-fits-reader')], { cwd: work, env: { NODE_OPTIONS: `--import ${join(hooks, 'register.mjs')}` } });
    try {
      const png = await run('orion.png', 'small.png');
      expect(png.stderr).toMatch(/No API key/);
      expect(readFileSync(log, 'utf8')).toBe('');
      const fits = await run('orion.png', 'field.fits');
      expect(fits.stderr).toMatch(/No API key/);
      expect(readFileSync(log, 'utf8')).toMatch(/header-hints\.js/);
    } finally {
      rmSync(hooks, { recursive: true, force: true });
    }
  });

  test('sexagesimal coordinates and the focal-length scale are sent as nova options', async () => {
    const r = await runCli(
      ['solve', 'small.png', ...where(), '--out', join(work, 'hint'), '--json', '--ra', '5h35m17.3s', '--dec', '-05:23:28', '--radius', '2', '--focal-length', '500', '--pixel-size', '4.5'],
      { cwd: work },
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as SolveJsonDocument;
    // The simulated solver centres a hinted field on the hint.
    expect(doc.inputs[0]?.calibration?.ra).toBeCloseTo(83.822083, 4);
    expect(doc.inputs[0]?.calibration?.dec).toBeCloseTo(-5.391111, 4);
  });

  test('a refused key exits 3 with what to do, stops the batch and uploads nothing', async () => {
    const uploads = nova.uploads();
    const logins = () => nova.server.requests.filter((q) => q.endpoint === 'login').length;
    const loginsBefore = logins();
    const r = await runCli(['solve', 'orion.png', 'south.png', 'small.png', 'field.fits', '--api-url', nova.url, '--api-key', 'wrongkeywrongkey', '--out', join(work, 'auth'), '-j', '1'], { cwd: work });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('authentication failed: ');
    expect(r.stderr).toContain('ASTROMETRY_API_KEY');
    expect(nova.uploads()).toBe(uploads);
    expect(logins() - loginsBefore).toBe(1);

    const noKey = await runCli(['solve', 'orion.png', '--api-url', nova.url, '--out', join(work, 'auth')], { cwd: work });
    expect(noKey.code).toBe(3);
    expect(noKey.stderr).toContain('No API key');
    expect(noKey.stderr).toContain('ASTROMETRY_API_KEY');
    expect(noKey.stderr).toContain('api-key');
    // Found before the run starts: nothing printed about solving, no request made.
    expect(noKey.stderr).not.toMatch(/Solving|loggingIn/);
    expect(noKey.stdout).toBe('');
    expect(logins() - loginsBefore).toBe(1);
    const noKeyJobs = await runCli(['jobs', '--api-url', nova.url], { cwd: work });
    expect(noKeyJobs.code).toBe(3);
    expect(noKeyJobs.stderr).toContain('No API key');
    expect(logins() - loginsBefore).toBe(1);

    const jobs = await runCli(['jobs', '--api-url', nova.url, '--api-key', 'wrongkeywrongkey'], { cwd: work });
    expect(jobs.code).toBe(3);
  });

  test('a second solve on the same --out exits 2 naming the run that holds it; a lock left by a killed run is taken over', async () => {
    const out = join(work, 'locked');
    const args = ['solve', 'orion.png', 'south.png', ...where(), '--out', out, '--json'];
    nova.server.faults.inject({ endpoint: 'upload', kind: 'slow', delayMs: 1500 });
    const before = nova.uploads();
    const first = spawnCli(args, { cwd: work });
    const lockFile = join(out, '.astrometry-net-journal', 'lock');
    const deadline = Date.now() + 15_000;
    // Both of the first run's uploads are on the wire (held by the server).
    while (!existsSync(lockFile) || nova.uploads() - before < 2) {
      if (Date.now() > deadline) throw new Error(`no lock taken:\n${first.output().stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const uploads = nova.uploads();
    const second = await runCli(args, { cwd: work });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`pid ${first.pid}`);
    expect(second.stderr).toContain(`is using the output folder ${out}`);
    expect(second.stderr).toContain('another --out');
    expect(second.stdout).toBe('');
    // The second run sent nothing.
    expect(nova.uploads()).toBe(uploads);

    // Killed without a chance to clean up: its lock stays, and the next run takes it over.
    first.kill('SIGKILL');
    await first.result;
    expect(existsSync(lockFile)).toBe(true);
    // (Its uploads were cut off mid-flight: --reupload sends them again.)
    const third = await runCli([...args, '--reupload'], { cwd: work });
    expect(third.code, third.stderr).toBe(0);
    // Released when the run ends.
    expect(existsSync(lockFile)).toBe(false);
  });

  test('--verbose shows each request but never the API key or a session key', async () => {
    const r = await runCli(['solve', 'orion.png', ...where(), '--out', join(work, 'verbose'), '--verbose'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const origin = nova.server.origin;
    expect(r.stderr).toContain(`POST ${origin}/api/login`);
    expect(r.stderr).toContain(`POST ${origin}/api/upload`);
    expect(r.stderr).toMatch(new RegExp(`GET ${origin}/api/submissions/\\d+`));
    expect(r.stderr).toMatch(new RegExp(`GET ${origin}/wcs_file/\\d+`));
    const all = r.stdout + r.stderr;
    expect(all).not.toContain(GOOD_KEY);
    const hashes = sessionKeyHashes(nova.server.dataDir);
    expect(hashes.size).toBeGreaterThan(0);
    expect(leakedSessionKeys(hashes, [all])).toEqual([]);
  });

  test('status, results and jobs report on existing submissions and jobs', async () => {
    const solved = await runCli(['solve', 'south.png', ...where(), '--out', join(work, 'cmd'), '--json'], { cwd: work });
    expect(solved.code, solved.stderr).toBe(0);
    const { subid, jobId } = (JSON.parse(solved.stdout) as SolveJsonDocument).inputs[0] as { subid: number; jobId: number };

    const [status, jobStatus, missing, badId, results, jobs] = await Promise.all([
      runCli(['status', String(subid), '--api-url', nova.url], { cwd: work }),
      runCli(['status', String(jobId), '--job', '--json', '--api-url', nova.url], { cwd: work }),
      runCli(['status', '999999', '--api-url', nova.url], { cwd: work }),
      runCli(['status', 'abc', '--api-url', nova.url], { cwd: work }),
      runCli(['results', String(jobId), '--api-url', nova.url, '--out', join(work, 'fetched'), '--axy'], { cwd: work }),
      runCli(['jobs', '--api-url', nova.url], { cwd: work, env: { ASTROMETRY_API_KEY: GOOD_KEY } }),
    ]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`submission ${subid}: success`);
    expect(status.stdout).toContain(`job: ${jobId} success`);
    expect(jobStatus.code).toBe(0);
    expect(JSON.parse(jobStatus.stdout)).toMatchObject({ kind: 'job', id: jobId, state: 'success.ready', jobStatus: 'success' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('not_found');
    expect(badId.code).toBe(2);
    expect(results.code, results.stderr).toBe(0);
    for (const [kind, path] of [['wcs', 'wcs_file'], ['axy', 'axy_file']] as const) {
      const file = join(work, 'fetched', `job-${jobId}.${kind}.fits`);
      const served = new Uint8Array(await (await fetch(`${nova.server.origin}/${path}/${jobId}`, { headers: { referer: nova.url } })).arrayBuffer());
      expect(new Uint8Array(readFileSync(file))).toEqual(served);
    }
    expect(jobs.code, jobs.stderr).toBe(0);
    expect(jobs.stdout.trim().split('\n').map(Number)).toContain(jobId);
  });

  test('a CSV source list, a directory and a glob are solved as inputs', async () => {
    const dir = join(work, 'night');
    mkdirSync(join(dir, 'deep'), { recursive: true });
    copyFileSync(join(FIXTURES, 'orion.png'), join(dir, 'a.png'));
    copyFileSync(join(FIXTURES, 'south.png'), join(dir, 'deep', 'b.png'));
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    writeFileSync(join(work, 'stars.csv'), 'x,y,flux\n10.5,20.25,100\n300,200,90\n150.5,400,80\n600,50,70\n');
    const r = await runCli(
      ['solve', 'night', 'night/**/b.png', '--source-list', 'stars.csv', '--image-width', '640', '--image-height', '480', ...where(), '--out', join(work, 'mixed'), '--json'],
      { cwd: work },
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as SolveJsonDocument;
    expect(doc.inputs.map((i) => i.input)).toEqual(['night/a.png', 'night/deep/b.png', 'stars.csv']);
    const info = await serverJson(nova, `jobs/${doc.inputs[2]?.jobId}/info`);
    expect(info.original_filename).toBe('json-xy');
  });
});
