/**
 * Wcs against Debian's astrometry.net tools on WCS files that the real solver writes for the
 * fixtures: 100 pixels each way through wcs-xy2rd and wcs-rd2xy, and wcsinfo's derived numbers.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { headerBytes, parseHeader } from '../src/fits/index.js';
import { Wcs, WcsError } from '../src/wcs/index.js';
import { fixtureIn, rd2xy, separationArcsec, solveField, wcsinfo, workDir, xy2rd } from './helpers/astrometry-tools.js';
import { truthOf } from './helpers/serve-process.js';

const FIXTURES = ['orion.png', 'south.png', 'small.png', 'small.fits.gz'] as const;
const solved = new Map<string, { path: string; bytes: Uint8Array }>();

beforeAll(async () => {
  // One folder each: small.png and small.fits would both write small.wcs.
  for (const name of FIXTURES) solved.set(name, await solveField(await fixtureIn(await workDir('anc-wcs-solve-'), name)));
}, 300_000);

/** A 10 x 10 grid over the image, offset so that no point sits on a pixel centre. */
function grid(w: number, h: number, offset: number): { x: number[]; y: number[] } {
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < 10; i++) {
    for (let j = 0; j < 10; j++) {
      x.push(0.5 + ((i + offset) * w) / 10);
      y.push(0.5 + ((j + offset) * h) / 10);
    }
  }
  return { x, y };
}

/**
 * The worst distance (px) between `skyToPixel` and Debian's `wcs-rd2xy` over sky points that
 * `wcs-xy2rd` gives for the grid, both tools reading the WCS file `file`.
 */
async function worstInverse(wcs: Wcs, file: string, g: { x: number[]; y: number[] }): Promise<number> {
  const [ra, dec] = await xy2rd(file, g.x, g.y);
  const [x, y] = await rd2xy(file, ra, dec);
  let worst = 0;
  ra.forEach((r, i) => {
    const p = wcs.skyToPixel(r, dec[i]!)!;
    worst = Math.max(worst, Math.hypot(p.x - x[i]!, p.y - y[i]!));
  });
  return worst;
}

describe.each(FIXTURES)('%s', (name) => {
  test('pixelToSky agrees with wcs-xy2rd within 0.01″ on 100 points', async () => {
    const { path: file, bytes } = solved.get(name)!;
    const wcs = Wcs.fromFits(bytes);
    expect(wcs.sip, 'the solver fits SIP terms').toBeDefined();
    const { x, y } = grid(wcs.imageWidth, wcs.imageHeight, 0.1);
    const [ra, dec] = await xy2rd(file, x, y);
    let worst = 0;
    x.forEach((xi, i) => {
      const sky = wcs.pixelToSky(xi, y[i]!);
      worst = Math.max(worst, separationArcsec(sky.ra, sky.dec, ra[i]!, dec[i]!));
    });
    console.log(`${name}: forward worst ${worst.toExponential(2)}″`);
    expect(worst).toBeLessThanOrEqual(0.01);
  });

  test('skyToPixel agrees with wcs-rd2xy within 0.01 px on 100 points', async () => {
    const { path: file, bytes } = solved.get(name)!;
    const wcs = Wcs.fromFits(bytes);
    const worst = await worstInverse(wcs, file, grid(wcs.imageWidth, wcs.imageHeight, 0.6));
    console.log(`${name}: inverse worst ${worst.toExponential(2)} px`);
    expect(worst).toBeLessThanOrEqual(0.01);
  });

  test('centre, pixel scale, orientation and parity as wcsinfo gives them; the truth is at the centre', async () => {
    const { path: file, bytes } = solved.get(name)!;
    const wcs = Wcs.fromFits(bytes);
    const info = await wcsinfo(file);
    expect(wcs.pixelScale).toBeCloseTo(info.pixscale!, 6);
    expect(wcs.parity).toBe(info.parity);
    expect(wcs.positionAngle).toBeCloseTo(info.orientation!, 4);
    expect(separationArcsec(wcs.center.ra, wcs.center.dec, info.ra_center!, info.dec_center!)).toBeLessThan(0.01);
    const truth = await truthOf(name.replace(/\..*$/, ''));
    expect(separationArcsec(wcs.center.ra, wcs.center.dec, truth.ra, truth.dec)).toBeLessThan(36);
    expect(wcs.contains(truth.ra, truth.dec)).toBe(true);
    // The corners are the outer pixel edges (back through AP/BP, which approximate A/B's inverse
    // to about 0.01 px at the edges); a degree beyond one is off the image.
    const edges = [[0.5, 0.5], [wcs.imageWidth + 0.5, 0.5], [wcs.imageWidth + 0.5, wcs.imageHeight + 0.5], [0.5, wcs.imageHeight + 0.5]];
    wcs.corners.forEach((c, i) => {
      const p = wcs.skyToPixel(c.ra, c.dec)!;
      expect(Math.hypot(p.x - edges[i]![0]!, p.y - edges[i]![1]!)).toBeLessThan(0.01);
      expect(wcs.contains(c.ra, c.dec + (c.dec > wcs.center.dec ? 1 : -1))).toBe(false);
    });
    expect(wcs.header.get('CRVAL1')).toBe(wcs.crval[0]);
  });
});

test('without AP/BP the inverse iterates to the forward polynomials, and matches wcs-rd2xy on the same file', async () => {
  const { bytes } = solved.get('orion.png')!;
  const cards = parseHeader(bytes).header.cards.filter((c) => !/^(AP|BP)_/.test(c.keyword));
  const stripped = headerBytes(cards);
  const file = path.join(await workDir('anc-wcs-nop-'), 'no-ap.wcs');
  await writeFile(file, stripped);
  const wcs = Wcs.fromFits(stripped);
  expect(wcs.sip?.ap).toBeUndefined();
  const g = grid(wcs.imageWidth, wcs.imageHeight, 0.3);
  let roundTrip = 0;
  g.x.forEach((x, i) => {
    const sky = wcs.pixelToSky(x, g.y[i]!);
    const p = wcs.skyToPixel(sky.ra, sky.dec)!;
    roundTrip = Math.max(roundTrip, Math.hypot(p.x - x, p.y - g.y[i]!));
  });
  expect(roundTrip).toBeLessThan(1e-8);
  const worst = await worstInverse(wcs, file, g);
  console.log(`orion without AP/BP: inverse worst ${worst.toExponential(2)} px`);
  expect(worst).toBeLessThanOrEqual(0.01);
});

test('points behind the tangent plane have no pixel; other projections are refused', () => {
  const wcs = new Wcs(parseHeader(headerBytes([
    { keyword: 'SIMPLE', value: true },
    { keyword: 'CTYPE1', value: 'RA---TAN' },
    { keyword: 'CTYPE2', value: 'DEC--TAN' },
    { keyword: 'CRVAL1', value: 10 },
    { keyword: 'CRVAL2', value: 20 },
    { keyword: 'CRPIX1', value: 50.5 },
    { keyword: 'CRPIX2', value: 50.5 },
    { keyword: 'CDELT1', value: -0.001 },
    { keyword: 'CDELT2', value: 0.001 },
    { keyword: 'NAXIS1', value: 100 },
    { keyword: 'NAXIS2', value: 100 },
  ])).header);
  expect(wcs.skyToPixel(190, -20)).toBeNull();
  expect(wcs.pixelToSky(50.5, 50.5)).toEqual({ ra: 10, dec: 20 });
  expect(wcs.pixelToSky(51.5, 50.5).ra).toBeLessThan(10);
  expect([wcs.imageWidth, wcs.imageHeight, wcs.parity]).toEqual([100, 100, -1]);
  expect(() => new Wcs(parseHeader(headerBytes([{ keyword: 'CTYPE1', value: 'RA---SIN' }, { keyword: 'CTYPE2', value: 'DEC--SIN' }])).header)).toThrow(WcsError);
});
