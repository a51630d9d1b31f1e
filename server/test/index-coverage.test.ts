/**
 * Which field widths serve's index files solve: read from index headers in a directory, the
 * width a job's scale hint allows, the explanation a failed job gets, `GET /api/server_info`
 * and the flags that choose the directories. Index files here are real headers written to a
 * temp directory (SCALE_L / SCALE_U in radians, as astrometry.net writes them); no solver runs.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServeArgs, runServe } from '../src/cli.js';
import { startServer, type RunningServer } from '../src/index.js';
import { engineConfig } from '../src/solvers/solve-field/backend.js';
import { explainBlindFailure, explainCoverage, hintedWidths, scanIndexDirs, type IndexCoverage } from '../src/solvers/index-coverage.js';

const RAD_PER_ARCMIN = Math.PI / (180 * 60);
/** Tycho-2 scale table (arcminutes), as in Debian's index files. */
const QUADS: Record<number, [number, number]> = { 7: [22, 30], 8: [30, 42], 9: [42, 60], 10: [60, 85], 11: [85, 120], 19: [1400, 2000] };

function indexHeader(indexId: number, [lo, hi]: [number, number]): Buffer {
  const card = (k: string, v: string | number) => `${k.padEnd(8)}= ${String(v).padStart(20)}`.padEnd(80);
  const cards = [
    card('SIMPLE', 'T'),
    card('BITPIX', 8),
    card('NAXIS', 0),
    card('EXTEND', 'T'),
    card('SCALE_U', hi * RAD_PER_ARCMIN),
    card('SCALE_L', lo * RAD_PER_ARCMIN),
    card('INDEXID', indexId),
    card('HEALPIX', -1),
    'END'.padEnd(80),
  ];
  return Buffer.from(cards.join('').padEnd(2880), 'latin1');
}

let root: string;
let lean: string;
let narrow: string;
const servers: RunningServer[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'index-coverage-test-'));
  lean = path.join(root, 'lean');
  narrow = path.join(root, 'narrow');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(lean);
  await mkdir(narrow);
  for (const s of [10, 11, 19]) await writeFile(path.join(lean, `index-tycho2-${s}.fits`), indexHeader(4100 + s, QUADS[s] as [number, number]));
  for (const s of [7, 8, 9]) await writeFile(path.join(narrow, `index-41${String(s).padStart(2, '0')}.fits`), indexHeader(4100 + s, QUADS[s] as [number, number]));
  await writeFile(path.join(lean, 'not-an-index.fits'), Buffer.from('SIMPLE  =                    T'.padEnd(2880)));
  await writeFile(path.join(lean, 'notes.txt'), 'index files\n');
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await rm(root, { recursive: true, force: true });
});

describe('index coverage', () => {
  it('reads the quad sizes from index headers and merges the field widths they serve', async () => {
    const cov = await scanIndexDirs([lean]);
    expect(cov.files.map((f) => f.indexId)).toEqual([4110, 4111, 4119]);
    expect(cov.series).toEqual([{ series: 4100, name: 'Tycho-2 (4100)', scales: [10, 11, 19], files: 3 }]);
    // 10-11 serve 60'..1200', 19 serves 1400'..10800' (180 deg cap): a gap between.
    expect(cov.fieldArcmin.map(([a, b]) => [Math.round(a), Math.round(b)])).toEqual([[60, 1200], [1400, 10800]]);
    const both = await scanIndexDirs([narrow, lean]);
    expect(both.files).toHaveLength(6);
    expect(Math.round(both.fieldArcmin[0]?.[0] ?? 0)).toBe(22);
    expect((await scanIndexDirs([path.join(root, 'missing')])).files).toEqual([]);
  });

  it('turns a scale hint into field widths, in every unit', () => {
    const size = { width: 256, height: 128 };
    expect(hintedWidths({ scale_units: 'degwidth', scale_lower: 0.5, scale_upper: 1 }, size)).toEqual([30, 60]);
    expect(hintedWidths({ scale_units: 'arcminwidth', scale_lower: 20, scale_upper: 40 }, size)).toEqual([20, 40]);
    expect(hintedWidths({ scale_units: 'arcsecperpix', scale_lower: 9, scale_upper: 10 }, size)).toEqual([38.4, 256 / 6]);
    expect(hintedWidths({ scale_units: 'arcsecperpix', scale_lower: 9, scale_upper: 10 }, undefined)).toBeNull();
    expect(hintedWidths({ scale_units: 'degwidth', scale_type: 'ev', scale_est: 1, scale_err: 10 }, size)).toEqual([54, 66]);
    const focal = hintedWidths({ scale_units: 'focalmm', scale_lower: 50, scale_upper: 100 }, size) as [number, number];
    expect(focal[0]).toBeCloseTo(2 * Math.atan(18 / 100) * (10800 / Math.PI), 6);
    expect(focal[1]).toBeGreaterThan(focal[0]);
    expect(hintedWidths({ scale_units: 'degwidth' }, size)).toBeNull();
  });

  it('explains a hint wholly outside coverage, notes one partly outside, and says nothing inside', async () => {
    const cov: IndexCoverage = await scanIndexDirs([lean]);
    const outside = explainCoverage(cov, [34, 43], 'hint');
    expect(outside?.outside).toBe(true);
    expect(outside?.message).toMatch(/^No index covers the field width 34'–43' \(hint\): the installed index files serve fields 1°–20°, 23°–180° wide; fields 34'–43' need Tycho-2 index scales 07–09/);
    expect(outside?.message).toContain('astrometry-data-tycho2-07-littleendian');
    const narrowField = explainCoverage(cov, [3, 10], 'hint');
    expect(narrowField?.message).toMatch(/fields 3\.0'–10' need astrometry.net's 5200 or 4200 series, scales 00–04/);
    const partly = explainCoverage(cov, [6, 10800], 'default');
    expect(partly?.outside).toBe(false);
    expect(partly?.message).toMatch(/lies partly outside/);
    expect(explainCoverage(cov, [70, 300], 'hint')).toBeNull();
  });

  it('explains a blind failure: the widths served and what to install for narrower fields', async () => {
    const lean = await scanIndexDirs([path.join(root, 'lean')]);
    const msg = explainBlindFailure(lean);
    expect(msg).toMatch(/^Not solved: this server's index files serve fields 1°–20°, 23°–180° wide; a field narrower than 1° needs index scales 00–09: /);
    expect(msg).toMatch(/Tycho-2 index scales 07–09 \(Debian packages .*\), or astrometry\.net's 5200 or 4200 series, scales 00–06 \(from astrometry\.net's data site: astrometry-net indexes install\)/);
    expect(msg).toContain('`astrometry-net indexes install --width 0.033-1`');
    expect(explainBlindFailure(await scanIndexDirs([]))).toMatch(/has no index files/);
  });

  it('generates the engine config from the index directories', () => {
    expect(engineConfig(['/a', '/b c'], 60)).toBe('# Generated by astrometry-net serve from its index directories.\ncpulimit 60\nadd_path /a\nadd_path /b c\nautoindex\n');
  });
});

describe('serve flags and GET /api/server_info', () => {
  it('parses --index-dir (repeatable), --no-system-indexes and --list-indexes', () => {
    expect(parseServeArgs(['--index-dir', '/x', '--index-dir=/y', '--no-system-indexes'])).toEqual({ indexDirs: ['/x', '/y'], systemIndexes: false });
    expect(parseServeArgs(['--list-indexes']).listIndexes).toBe(true);
    expect(() => parseServeArgs(['--index-dir', ''])).toThrow(/--index-dir/);
  });

  it('--list-indexes prints each file and the field widths, and starts no server', async () => {
    let out = '';
    const code = await runServe(['--list-indexes', '--no-system-indexes', '--index-dir', narrow], { stdout: (t) => (out += t), stderr: () => undefined });
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toBe(`${path.join(narrow, 'index-4107.fits')}\tindex 4107\tquads 22'–30'`);
    expect(lines[3]).toBe(`3 index files (Tycho-2 (4100) scales 07–09) in ${narrow}: fields 22'–10° wide`);
    expect(lines[4]).toBe("field widths: 22'–10°");
  });

  it('answers versions, the index and the limits with the solve-field backend', async () => {
    const lines: string[] = [];
    const s = await startServer({ port: 0, solver: 'solve-field', systemIndexes: false, indexDirs: [lean], longPollMaxSeconds: 30, concurrency: 3, log: (l) => lines.push(l) });
    servers.push(s);
    expect(lines).toContain(`index: 3 index files (Tycho-2 (4100) scales 10–11, 19) in ${lean}: fields 1°–20°, 23°–180° wide`);
    const r = await fetch(`${s.url}server_info`);
    expect(r.headers.get('content-type')).toBe('text/plain');
    const info = (await r.json()) as Record<string, unknown>;
    expect(info).toMatchObject({
      server: 'astrometry-net-client serve',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      solver: { name: 'solve-field', version: expect.stringMatching(/^\d+\.\d+/) },
      index: { dirs: [lean], files: 3, series: [{ series: 4100, name: 'Tycho-2 (4100)', scales: [10, 11, 19], files: 3 }] },
      limits: { max_upload_bytes: 100 * 1024 * 1024, concurrency: 3, long_poll_max_seconds: 30, cpu_limit_seconds: 60, solve_timeout_seconds: 660 },
    });
    const widths = (info['index'] as { field_width_arcmin: [number, number][] }).field_width_arcmin;
    expect(widths.map(([a, b]) => [Math.round(a), Math.round(b)])).toEqual([[60, 1200], [1400, 10800]]);
  });

  it('answers index null for the simulated solver', async () => {
    const s = await startServer({ port: 0, solver: 'simulated' });
    servers.push(s);
    const info = (await (await fetch(`${s.url}server_info/`)).json()) as Record<string, unknown>;
    expect(info['index']).toBeNull();
    expect(info['solver']).toEqual({ name: 'simulated', version: null });
  });
});
