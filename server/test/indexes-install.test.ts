/**
 * `astrometry-net indexes install` as a user runs it (the built CLI, a child process) against a
 * mirror of the data site on 127.0.0.1 whose 4100 series is Debian's Tycho-2 files under the
 * site's names. It installs 0.4–0.9° into an empty folder across a cut download and a rerun,
 * refuses damaged files, and then `serve --index-dir D --no-system-indexes` solves astroquery's
 * real 0.64° thumbnail with only those files, within 10" of nova's solution.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'astrometry-net-client';
import { buildCli, runCli } from '../../test/helpers/cli-run.js';
import { randomApiKey, startServe, type Serve } from '../../test/helpers/serve-process.js';
import { startIndexMirror, type IndexMirror } from './helpers/index-mirror.js';
import { astroqueryData, maxDisagreement } from './helpers/wcs-compare.js';

const SYSTEM_INDEX = '/usr/share/astrometry';
const API_KEY = randomApiKey();
const WANTED = ['index-4107.fits', 'index-4108.fits', 'index-4109.fits'];

let work: string;
let mirrorRoot: string;
let target: string;
let mirror: IndexMirror;
let serve: Serve | undefined;
const figures: Record<string, string> = {};

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const install = (args: string[], timeoutMs = 120_000) =>
  runCli(['indexes', 'install', '--mirror', mirror.url, '--dir', target, ...args], { timeoutMs, env: { XDG_DATA_HOME: path.join(work, 'xdg') } });

beforeAll(async () => {
  await buildCli();
  work = await mkdtemp(path.join(tmpdir(), 'indexes-install-test-'));
  mirrorRoot = path.join(work, 'mirror');
  target = path.join(work, 'installed');
  await mkdir(path.join(mirrorRoot, '4100'), { recursive: true });
  // Debian's Tycho-2 files are the data site's 4100 series (INDEXID 41XX), under other names.
  for (let s = 7; s <= 19; s++) {
    const two = String(s).padStart(2, '0');
    await symlink(path.join(SYSTEM_INDEX, `index-tycho2-${two}.littleendian.fits`), path.join(mirrorRoot, '4100', `index-41${two}.fits`));
  }
  mirror = await startIndexMirror(mirrorRoot);
}, 120_000);

afterAll(async () => {
  if (serve && serve.child.exitCode === null) serve.child.kill('SIGTERM');
  if (serve) await serve.exit;
  await mirror?.close();
  await rm(work, { recursive: true, force: true });
  console.log(`indexes-install figures: ${JSON.stringify(figures)}`);
});

describe('indexes install against a mirror of the data site', () => {
  it('installs 0.4–0.9° (index-4107, -4108, -4109) across a cut and a rerun, fetching no file whole twice', async () => {
    // The first transfer crawls and is dropped after 2 s; with --retries 0 the run gives up on it.
    mirror.cut('4100/index-4107.fits', 2000, 8_000_000);
    const first = await install(['--series', '4100', '--width', '0.4-0.9', '--retries', '0']);
    expect(first.code, first.stderr).toBe(1);
    expect(first.stderr).toMatch(/index-4107\.fits: .*broke off at \d+ of 140644800 bytes.*run the same command again to resume/);
    const afterCut = await readdir(target);
    expect(afterCut).toContain('index-4107.fits.part');
    expect(afterCut).not.toContain('index-4107.fits');
    const partBytes = (await stat(path.join(target, 'index-4107.fits.part'))).size;
    expect(partBytes).toBeGreaterThan(1_000_000);

    const second = await install(['--series', '4100', '--width', '0.4-0.9']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/index-4107\.fits: 140\.6 MB \(.* resumed at /);
    expect(second.stderr).toMatch(/now serves fields 22'–10° wide \(3 index files\)/);
    figures.firstRun = /^fetched .*$/m.exec(first.stderr)?.[0] ?? '';
    figures.rerun = /^fetched .*$/m.exec(second.stderr)?.[0] ?? '';

    expect((await readdir(target)).sort()).toEqual(WANTED);
    for (const name of WANTED) {
      expect(await sha256(path.join(target, name)), name).toBe(await sha256(path.join(mirrorRoot, '4100', name)));
    }
    // Every file asked for from its start once: index-4107 (cut) then only for its missing bytes.
    const of = (name: string) => mirror.log.filter((r) => r.path === `4100/${name}`);
    for (const name of WANTED) expect(of(name).filter((r) => r.range === null), name).toHaveLength(1);
    expect(of('index-4107.fits')[0]?.cut).toBe(true);
    const resumes = of('index-4107.fits').filter((r) => r.range !== null);
    expect(resumes).toHaveLength(1);
    expect(resumes[0]?.status).toBe(206);
    expect(resumes[0]?.start).toBe(partBytes);
    const sent = of('index-4107.fits').reduce((n, r) => n + r.sent, 0);
    expect(sent).toBeLessThan(140_644_800 * 1.1);

    // A third run finds everything in place and asks the mirror for nothing.
    const before = mirror.log.length;
    const third = await install(['--series', '4100', '--width', '0.4-0.9']);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr.match(/already installed/g)).toHaveLength(3);
    expect(mirror.log.length).toBe(before);
  }, 240_000);

  it('refuses a damaged file with a clear error and leaves nothing under its name', async () => {
    // On the mirror: 4110 cut short by one block (its announced size agrees), 4111 an error page.
    await rm(path.join(mirrorRoot, '4100', 'index-4110.fits'));
    await copyFile(path.join(SYSTEM_INDEX, 'index-tycho2-10.littleendian.fits'), path.join(mirrorRoot, '4100', 'index-4110.fits'));
    await truncate(path.join(mirrorRoot, '4100', 'index-4110.fits'), 20_514_240 - 2880);
    await rm(path.join(mirrorRoot, '4100', 'index-4111.fits'));
    await writeFile(path.join(mirrorRoot, '4100', 'index-4111.fits'), '<html><body>Service unavailable</body></html>\n');
    const r = await install(['--series', '4100', '--width', '1-1.5']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/index-4110\.fits is not a valid astrometry\.net index file: its HDUs declare \d+ bytes, the file has 20511360/);
    expect(r.stderr).toMatch(/index-4111\.fits is not a valid astrometry\.net index file: its size \(46 bytes\) is not a whole number of FITS blocks/);
    expect(r.stderr).toMatch(/2 file\(s\) not installed/);
    expect((await readdir(target)).sort()).toEqual(WANTED);
  }, 120_000);
});

describe('serve with only the installed files', () => {
  beforeAll(async () => {
    serve = await startServe(API_KEY, ['--index-dir', target, '--no-system-indexes']);
  }, 60_000);

  it('prints its default index folder and what the folder covers, and server_info shows the widths', async () => {
    expect(serve?.stderr()).toMatch(/default index folder: \S+astrometry-net\/indexes \(/);
    expect(serve?.stderr()).toMatch(/index: 3 index files \(Tycho-2 \(4100\) scales 07–09\) in .*installed: fields 22'–10° wide/);
    const info = (await (await fetch(`${serve?.apiUrl}server_info`)).json()) as { index: { dirs: string[]; field_width_arcmin: [number, number][] } };
    expect(info.index.dirs).toEqual([target]);
    expect(info.index.field_width_arcmin).toHaveLength(1);
    expect(info.index.field_width_arcmin[0]?.[0]).toBeCloseTo(22, 0);
    expect(info.index.field_width_arcmin[0]?.[1]).toBeCloseTo(600, 0);
  });

  it("solves astroquery's 0.64° thumbnail within 10\" of nova's solution", async () => {
    const data = astroqueryData();
    const client = new Client({ apiUrl: serve?.apiUrl as string, apiKey: API_KEY, polling: { minIntervalMs: 200, maxIntervalMs: 1000 }, timeoutMs: 150_000 });
    const t0 = performance.now();
    const result = await client.solve({ file: path.join(data, 'thumbnail-image.fit.gz') }, { downsampleFactor: 1 });
    figures.solveMs = String(Math.round(performance.now() - t0));
    const ours = path.join(work, 'thumbnail-wcs.fits');
    await writeFile(ours, (await result.job.wcsFile()).bytes);
    const worst = maxDisagreement(ours, path.join(data, 'thumbnail-wcs-sol.fit'), 256, 256);
    figures.worstArcsec = worst.toFixed(2);
    expect(worst).toBeLessThan(10);
    // nova's job log: the engine's own, from its scan of the index folder, solved by an installed file.
    const log = await (await fetch(`${serve?.origin}/joblog/${result.jobId}`)).text();
    expect(log).toMatch(/^Auto-indexing directory "[^"]*installed" \.\.\.\n/);
    expect(log).toMatch(/solved with index index-410[789]\.fits/);
    expect(log).not.toMatch(/tycho2/);
  }, 160_000);
});
