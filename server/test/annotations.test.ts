/**
 * nova's annotations from the real `plot-constellations` (Debian's) on a TAN WCS of Orion's
 * sword, 4° wide: every NGC/IC object in the field whatever its size, `vmag` from the catalogue
 * built into libastrometry (a failed read of it retried by the next job), and `nbright=N` giving
 * the N brightest stars.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { annotationsFromPlotConstellations, readAnnotations, type Annotation } from '../src/annotations.js';
import { brightStarMagnitudes } from '../src/solvers/solve-field/bright-stars.js';

let dir: string;
let wcs: string;

/** A TAN header: 1000 x 1000 pixels of 14.4", centred on M 42, north up. */
function tanHeader(): Buffer {
  const card = (k: string, v: string | number) => `${k.padEnd(8)}= ${String(v).padStart(20)}`.padEnd(80);
  const cards = [
    card('SIMPLE', 'T'), card('BITPIX', 8), card('NAXIS', 0), card('CTYPE1', "'RA---TAN'"), card('CTYPE2', "'DEC--TAN'"),
    card('CRVAL1', 83.8), card('CRVAL2', -5.4), card('CRPIX1', 500.5), card('CRPIX2', 500.5),
    card('CD1_1', -0.004), card('CD1_2', 0), card('CD2_1', 0), card('CD2_2', 0.004), card('IMAGEW', 1000), card('IMAGEH', 1000),
    'END'.padEnd(80),
  ];
  return Buffer.from(cards.join('').padEnd(2880), 'latin1');
}

function plotConstellations(args: string[]): string {
  const r = spawnSync('plot-constellations', ['-w', wcs, ...args, '-J', '-L'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`plot-constellations: ${r.stderr}${r.error?.message ?? ''}`);
  return r.stderr;
}

const ngcNames = (list: Annotation[]) => list.filter((a) => a.type !== 'bright').map((a) => a.names[0]).sort();

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'annotations-test-'));
  wcs = path.join(dir, 'wcs.fits');
  await writeFile(wcs, tanHeader());
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('annotations', () => {
  it('has every NGC/IC object in the field, the small ones the default size cut drops included, in nova order', async () => {
    const all = annotationsFromPlotConstellations(plotConstellations(['-B', '-N', '-F', '0']), await brightStarMagnitudes());
    const cut = annotationsFromPlotConstellations(plotConstellations(['-B', '-N']));
    expect(ngcNames(all)).toEqual(expect.arrayContaining(ngcNames(cut)));
    // NGC 1999 (2'), NGC 1924 and IC 427-429 are below the 2 % default cut.
    expect(ngcNames(all)).toEqual(expect.arrayContaining(['NGC 1999', 'NGC 1924', 'IC 427', 'IC 428', 'IC 429']));
    expect(ngcNames(cut)).not.toContain('NGC 1999');
    // nova's order: objects without a size (NGC, then IC), bright stars, then circles.
    const kinds = all.map((a) => (a.type === 'bright' ? 'star' : a.radius > 0 ? 'circle' : 'point'));
    expect(kinds.join(' ')).toMatch(/^(point )*(star )+(circle ?)+$/);
    const points = all.filter((a) => a.type !== 'bright' && a.radius === 0).map((a) => a.names[0]);
    expect(points).toEqual(['IC 427', 'IC 428', 'IC 429']);
    const circles = all.filter((a) => a.radius > 0).map((a) => a.names[0]);
    expect(circles.slice(0, 2)).toEqual(['NGC 1924', 'NGC 1973']);
    expect(circles.at(-1)).toBe('IC 430');
    expect(all.find((a) => a.names[0] === 'NGC 1976')?.names).toContain('M 42');
  });

  it("gives the bright stars the catalogue's V magnitude", async () => {
    const all = annotationsFromPlotConstellations(plotConstellations(['-B', '-N', '-F', '0']), await brightStarMagnitudes());
    const stars = all.filter((a) => a.type === 'bright');
    expect(stars.length).toBeGreaterThan(3);
    for (const s of stars) expect(s.vmag, s.names.join(' / ')).toEqual(expect.any(Number));
    // ι Ori (Hatysa), V = 2.77 in the Yale Bright Star catalogue.
    expect(stars.find((s) => s.names[0] === 'Hatysa')?.vmag).toBeCloseTo(2.8, 1);
  });

  it('nbright=N gives the N brightest stars, brightest first, as plot-constellations -b N picks them', async () => {
    const file = path.join(dir, 'annotations.json');
    const all = annotationsFromPlotConstellations(plotConstellations(['-B', '-N', '-F', '0']), await brightStarMagnitudes());
    await writeFile(file, JSON.stringify(all));
    const three = await readAnnotations(file, 3);
    const stars = three.filter((a) => a.type === 'bright');
    expect(stars).toHaveLength(3);
    const mags = stars.map((s) => s.vmag as number);
    expect([...mags].sort((a, b) => a - b)).toEqual(mags);
    const allMags = all.filter((a) => a.type === 'bright').map((a) => a.vmag as number).sort((a, b) => a - b);
    expect(mags).toEqual(allMags.slice(0, 3));
    const own = annotationsFromPlotConstellations(plotConstellations(['-B', '-b', '3'])).map((a) => a.names[0]).sort();
    expect(stars.map((s) => s.names[0]).sort()).toEqual(own);
    // Everything else as without nbright, in its place.
    expect(three.filter((a) => a.type !== 'bright')).toEqual(all.filter((a) => a.type !== 'bright'));
    expect(three.findIndex((a) => a.type === 'bright')).toBe(all.findIndex((a) => a.type === 'bright'));
  });

  it('nbright=N without magnitudes (no python3 or libastrometry) gives the first N stars as listed', async () => {
    const file = path.join(dir, 'annotations-no-vmag.json');
    const bare = annotationsFromPlotConstellations(plotConstellations(['-B', '-N', '-F', '0']), new Map());
    expect(bare.some((a) => a.vmag !== undefined)).toBe(false);
    await writeFile(file, JSON.stringify(bare));
    const stars = (await readAnnotations(file, 2)).filter((a) => a.type === 'bright');
    expect(stars).toEqual(bare.filter((a) => a.type === 'bright').slice(0, 2));
  });
});

describe('star magnitudes from libastrometry', () => {
  it('are read again after a failed read, and kept once read', async () => {
    // A module of its own, so no earlier test has filled its cache.
    vi.resetModules();
    const { brightStarMagnitudes: magnitudes } = await import('../src/solvers/solve-field/bright-stars.js');
    const log: string[] = [];
    const failed = await magnitudes((l) => log.push(l), path.join(dir, 'no-python3-here'));
    expect(failed.size).toBe(0);
    expect(log.join('\n')).toMatch(/no star magnitudes \(vmag\) from libastrometry's catalogue: .*ENOENT/);
    const read = await magnitudes();
    expect(read.get('Hatysa')).toBeCloseTo(2.8, 1);
    // Kept: even a python that cannot run is not asked again.
    expect(await magnitudes(() => {}, path.join(dir, 'no-python3-here'))).toBe(read);
  });
});
