/**
 * The parts of `astrometry-net indexes` that need no network: the healpix tiles of a sky
 * position (checked against Debian's own `get-healpix`), the files a width range needs, the
 * flags, and the validation of index files (Debian's real Tycho-2 files, and damaged copies).
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { radecToHealpix, tilesInDisc } from '../src/indexes/healpix.js';
import { planFiles, scalesFor } from '../src/indexes/catalogue.js';
import { parseIndexesArgs } from '../src/indexes/args.js';
import { IndexesUsageError, InvalidIndexError } from '../src/indexes/errors.js';
import { validateIndexFile } from '../src/indexes/validate.js';
import { readIndexFile } from '../src/solvers/index-coverage.js';
import { defaultIndexDir } from '../src/indexes/default-dir.js';
import { parseServeArgs, withDefaultIndexDir } from '../src/cli.js';

const TYCHO2_11 = '/usr/share/astrometry/index-tycho2-11.littleendian.fits';

/** Debian's get-healpix for many points at once is slow; a fixed spread of points is enough. */
function getHealpix(ra: number, dec: number, nside: number): number {
  const r = spawnSync('get-healpix', ['-N', String(nside), '--', String(ra), String(dec)], { encoding: 'utf8' });
  const m = /Healpix=(\d+) in the XY scheme/.exec(r.stdout);
  if (!m) throw new Error(`get-healpix: ${r.stdout}${r.stderr}${r.error?.message ?? ''}`);
  return Number(m[1]);
}

describe('healpix tiles (astrometry.net XY scheme)', () => {
  it('numbers a position as astrometry.net does, for nside 1 and 2, caps and equator alike', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const points: [number, number][] = [
      [0, 0], [10, 20], [359.9, 89.9], [180, -89.9], [45, 41.81], [300, -41.82], [90, 0.01], [270, -60],
    ];
    for (let i = 0; i < 60; i++) points.push([rand() * 360, (Math.asin(rand() * 2 - 1) * 180) / Math.PI]);
    for (const [ra, dec] of points) {
      for (const nside of [1, 2]) expect(radecToHealpix(ra, dec, nside), `${ra} ${dec} nside ${nside}`).toBe(getHealpix(ra, dec, nside));
    }
  });

  it('takes every tile a disc touches: one for a small field inside a tile, several across a corner, all 48 for the sky', () => {
    expect(tilesInDisc(10, 41, 1, 2)).toEqual([getHealpix(10, 41, 2)]);
    const corner = tilesInDisc(0, 41.81, 3, 2);
    expect(corner.length).toBeGreaterThanOrEqual(3);
    for (const [ra, dec] of [[358, 41.81], [2, 41.81], [0, 44], [0, 39]] as const) expect(corner).toContain(getHealpix(ra, dec, 2));
    expect(tilesInDisc(0, 90, 180, 2)).toHaveLength(48);
    expect(tilesInDisc(0, 0, 180, 1)).toHaveLength(12);
  });
});

describe('the files a width range needs', () => {
  it('0.4–0.9° from Tycho-2 is index-4107, -4108 and -4109', () => {
    const files = planFiles({ widthArcmin: [24, 54], series: [4100] });
    expect(files.map((f) => f.name)).toEqual(['index-4107.fits', 'index-4108.fits', 'index-4109.fits']);
    expect(files.map((f) => f.path)).toEqual(['4100/index-4107.fits', '4100/index-4108.fits', '4100/index-4109.fits']);
  });

  it('by default takes Tycho-2 where it has the scale and Gaia tiles below, only the tiles of the sky asked for', () => {
    const files = planFiles({ widthArcmin: [10, 25], series: [4100, 5200], sky: { ra: 10, dec: 41, radius: 1 } });
    const tile = getHealpix(10, 41, 2);
    expect(files.filter((f) => f.series === 5200).map((f) => f.name)).toEqual(
      scalesFor(5200, 10, 25).map((s) => `index-52${String(s).padStart(2, '0')}-${String(tile).padStart(2, '0')}.fits`),
    );
    expect(files.filter((f) => f.series === 4100).map((f) => f.name)).toEqual(['index-4107.fits']);
  });

  it('tiles 2MASS as the site does: 48 tiles for scales 00–04, 12 for 05–07, whole-sky files above', () => {
    const all = planFiles({ widthArcmin: [2, 10_800], series: [4200] });
    const count = (scale: number) => all.filter((f) => f.scale === scale).length;
    expect([count(0), count(4), count(5), count(7), count(8), count(19)]).toEqual([48, 48, 12, 12, 1, 1]);
    expect(all.find((f) => f.scale === 5 && f.healpix === 3)?.path).toBe('4200/index-4205-03.fits');
  });
});

describe('flags', () => {
  it('reads widths in degrees, series, sky and mirror', () => {
    const a = parseIndexesArgs(['install', '--width', '0.4-0.9', '--series', '4100', '--mirror', 'http://127.0.0.1:9/', '--dir', '/tmp/x']);
    expect(a).toMatchObject({ command: 'install', widthArcmin: [24, 54], series: [4100], mirror: 'http://127.0.0.1:9', dir: '/tmp/x', retries: 3 });
    expect(parseIndexesArgs(['install', '--width=0.1-0.2', '--ra', '10', '--dec', '-5', '--radius', '2'])).toMatchObject({
      series: [4100, 5200],
      sky: { ra: 10, dec: -5, radius: 2 },
      mirror: 'https://data.astrometry.net',
    });
  });

  it('refuses what it cannot use, before anything is fetched', () => {
    const refused = (argv: string[]) => {
      try {
        parseIndexesArgs(argv);
      } catch (e) {
        expect(e).toBeInstanceOf(IndexesUsageError);
        expect((e as IndexesUsageError).code).toBe('usage');
        return (e as Error).message;
      }
      throw new Error(`accepted ${argv.join(' ')}`);
    };
    expect(refused(['install'])).toMatch(/--width MIN-MAX is required/);
    expect(refused(['install', '--width', '0.9-0.4'])).toMatch(/--width: invalid value "0.9-0.4"/);
    expect(refused(['install', '--width', '1-2', '--series', '4300'])).toMatch(/allowed: 4100, 4200, 5200/);
    expect(refused(['install', '--width', '1-2', '--ra', '10'])).toMatch(/go together/);
    expect(refused(['install', '--width', '1-2', '--mirror', 'ftp://x'])).toMatch(/--mirror/);
    expect(refused(['install', '--width', '1-2', '--dec', '95', '--ra', '1', '--radius', '1'])).toMatch(/declination/);
    expect(refused(['remove'])).toMatch(/allowed: list, install/);
  });
});

describe('index file validation', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'indexes-validate-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const size = async (f: string) => (await open(f, 'r').then(async (h) => (await h.stat().finally(() => h.close())).size));

  it("accepts Debian's Tycho-2 file as index 4111 of the size announced", async () => {
    await expect(validateIndexFile(TYCHO2_11, 'index-4111.fits', { indexId: 4111, healpix: -1, size: await size(TYCHO2_11) })).resolves.toBeUndefined();
  });

  it('refuses another index, a tile for a whole-sky file, a size other than announced, a truncated file and a non-FITS', async () => {
    const n = await size(TYCHO2_11);
    const why = (p: Promise<void>) =>
      p.then(
        () => 'accepted',
        (e: unknown) => (expect(e).toBeInstanceOf(InvalidIndexError), (e as Error).message),
      );
    expect(await why(validateIndexFile(TYCHO2_11, 'index-4112.fits', { indexId: 4112, healpix: -1, size: n }))).toMatch(/INDEXID is 4111, expected 4112/);
    expect(await why(validateIndexFile(TYCHO2_11, 'index-4211-03.fits', { indexId: 4111, healpix: 3, size: n }))).toMatch(/HEALPIX is -1, expected 3/);
    expect(await why(validateIndexFile(TYCHO2_11, 'index-4111.fits', { indexId: 4111, healpix: -1, size: n + 2880 }))).toMatch(/mirror announced/);
    const cut = path.join(dir, 'cut.fits');
    await copyFile(TYCHO2_11, cut);
    await truncate(cut, n - 2880);
    expect(await why(validateIndexFile(cut, 'index-4111.fits', { indexId: 4111, healpix: -1, size: n - 2880 }))).toMatch(/declare \d+ bytes, the file has/);
    const html = path.join(dir, 'page.fits');
    const h = await open(html, 'w');
    await h.write(Buffer.from('<html>Not Found</html>'.padEnd(2880)));
    await h.close();
    expect(await why(validateIndexFile(html, 'index-4111.fits', { indexId: 4111, healpix: -1, size: 2880 }))).toMatch(/not a FITS file/);
  });

  it("is read from the same header serve's coverage scan reads, however long the header", async () => {
    // Debian's file with four blocks of COMMENT cards after EXTEND: INDEXID and SCALE_L/U now
    // sit in the header's fifth block.
    const bytes = await readFile(TYCHO2_11);
    const comments = Buffer.from('COMMENT   padding'.padEnd(80).repeat(4 * 36), 'latin1');
    const long = path.join(dir, 'long-header.fits');
    await writeFile(long, Buffer.concat([bytes.subarray(0, 4 * 80), comments, bytes.subarray(4 * 80)]));
    await expect(validateIndexFile(long, 'index-4111.fits', { indexId: 4111, healpix: -1, size: bytes.length + 4 * 2880 })).resolves.toBeUndefined();
    const original = await readIndexFile(TYCHO2_11);
    expect(original?.indexId).toBe(4111);
    expect(await readIndexFile(long)).toEqual({ ...original, path: long });
  });
});

describe("serve's default index folder", () => {
  it('is XDG data, searched by serve when it exists and no --index-dir is given', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'indexes-xdg-'));
    try {
      const env = { XDG_DATA_HOME: home };
      const dir = defaultIndexDir(env);
      expect(dir).toBe(path.join(home, 'astrometry-net', 'indexes'));
      expect(withDefaultIndexDir(parseServeArgs([]), env).indexDirs).toBeUndefined();
      await mkdir(dir, { recursive: true });
      expect(withDefaultIndexDir(parseServeArgs(['--no-system-indexes']), env)).toMatchObject({ indexDirs: [dir], systemIndexes: false });
      expect(withDefaultIndexDir(parseServeArgs(['--index-dir', '/elsewhere']), env).indexDirs).toEqual(['/elsewhere']);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
