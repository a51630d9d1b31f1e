/** The CLI's pieces that need no server: coordinates, flags, globs, inputs, source lists, FITS, progress, journal. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { Flags, parseArgs, UsageError } from '../src/cli/args.js';
import { mergeWcsIntoFits, readXyColumns } from '../src/fits/index.js';
import { expandGlob } from '../src/cli/glob.js';
import { resolveInputs } from '../src/cli/expand-inputs.js';
import { Journal, JOURNAL_DIR, newEntry, planFor } from '../src/cli/journal.js';
import { middleEllipsis, Progress } from '../src/cli/progress.js';
import { displayWidth } from '../src/cli/display-width.js';
import { parseDec, parseRa } from '../src/wcs/sexagesimal.js';
import { parseSourceListText, readSourceList } from '../src/cli/source-list.js';
import { UPLOAD_FLAGS, uploadOptionsFromFlags } from '../src/cli/upload-flags.js';
import { ValidationError } from '../src/errors.js';
import { card, fitsFile, headerCards, int16Image, xyTable } from './helpers/cli-fits.js';

const tmp = mkdtempSync(join(tmpdir(), 'astrometry-net-cli-units-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('coordinates', () => {
  test('RA in degrees or sexagesimal hours', () => {
    expect(parseRa('83.822')).toBe(83.822);
    expect(parseRa('05:35:17.3')).toBeCloseTo(83.8220833, 6);
    expect(parseRa('5h35m17.3s')).toBeCloseTo(83.8220833, 6);
    expect(parseRa('5 35 17.3')).toBeCloseTo(83.8220833, 6);
    expect(parseRa('5h35m')).toBeCloseTo(83.75, 6);
    for (const bad of ['25:00:00', '05:61:00', '05:30:60', '-05:00:00', '5.5:30:00', 'abc', '5d30m']) expect(parseRa(bad), bad).toBeUndefined();
  });

  test('Dec in degrees or sexagesimal degrees, with the sign of a zero-degree Dec kept', () => {
    expect(parseDec('-5.391')).toBe(-5.391);
    expect(parseDec('-05:23:28')).toBeCloseTo(-5.3911111, 6);
    expect(parseDec('-5d23m28s')).toBeCloseTo(-5.3911111, 6);
    expect(parseDec(`-5°23'28"`)).toBeCloseTo(-5.3911111, 6);
    expect(parseDec('+41:16:09')).toBeCloseTo(41.2691667, 6);
    expect(parseDec('-00:30:00')).toBe(-0.5);
    for (const bad of ['-91:00:00', '10:75:00', '5h30m', 'north']) expect(parseDec(bad), bad).toBeUndefined();
  });
});

describe('flags', () => {
  const specs = [...UPLOAD_FLAGS, { name: 'wcs', type: 'boolean' as const }, { name: 'out', type: 'string' as const, short: 'o' }];

  test('a value flag takes the next argument even when it starts with a dash', () => {
    const p = parseArgs(['img.fits', '--dec', '-05:23:28', '--scale-low=2', '--no-wcs', '-o', 'dir', 'x.png'], specs, 'solve');
    expect(p.positionals).toEqual(['img.fits', 'x.png']);
    expect(p.flags.get('dec')).toBe('-05:23:28');
    expect(p.flags.get('scale-low')).toBe('2');
    expect(p.flags.get('wcs')).toBe(false);
    expect(p.flags.get('out')).toBe('dir');
  });

  test('unknown and incomplete flags are usage errors', () => {
    expect(() => parseArgs(['--invrt'], specs, 'solve')).toThrow(/Unknown flag --invrt.*/);
    try {
      parseArgs(['--invrt'], specs, 'solve');
    } catch (error) {
      expect((error as UsageError).hint).toBe('Did you mean --invert?');
    }
    expect(() => parseArgs(['--ra'], specs, 'solve')).toThrow(UsageError);
    expect(() => parseArgs(['--invert=perhaps'], specs, 'solve')).toThrow(/Invalid value for --invert/);
  });

  test('grouped short flags, a joined short value, --, negative numbers and --no- on a value flag', () => {
    const all = [...specs, { name: 'quiet', type: 'boolean' as const, short: 'q' }, { name: 'verbose', type: 'boolean' as const, short: 'v' }, { name: 'concurrency', type: 'string' as const, short: 'j' }, { name: 'source-list', type: 'string' as const, multiple: true }];
    const p = parseArgs(['-qv', '-j4', '--source-list', 'a.csv', '--source-list=b.csv', '-7', '--', '--not-a-flag'], all, 'solve');
    expect(Object.fromEntries(p.flags)).toEqual({ quiet: true, verbose: true, concurrency: '4', 'source-list': ['a.csv', 'b.csv'] });
    expect(p.positionals).toEqual(['-7', '--not-a-flag']);
    expect(parseArgs(['--invert=no'], all, 'solve').flags.get('invert')).toBe(false);
    expect(() => parseArgs(['--no-dec'], all, 'solve')).toThrow(/Unknown flag --no-dec/);
    expect(() => parseArgs(['--no-wcs=1'], all, 'solve')).toThrow(/takes no value/);
    expect(() => parseArgs(['-j'], all, 'solve')).toThrow(/-j \(--concurrency\) needs a value/);
    expect(() => parseArgs(['-x'], all, 'solve')).toThrow(/Unknown flag -x/);
  });

  test('--focal-length/--pixel-size become arcsec/px bounds of ±10 %, validated by the library', () => {
    const flags = new Flags(parseArgs(['--focal-length', '500', '--pixel-size', '4.5', '--ra', '5h35m17.3s', '--dec', '-5d23m28s', '--radius', '2', '--parity', 'neg'], specs, 'solve'));
    const { wire } = uploadOptionsFromFlags(flags);
    const s = (206.265 * 4.5) / 500;
    expect(wire).toMatchObject({ scale_units: 'arcsecperpix', scale_type: 'ul', parity: 1, radius: 2 });
    expect(wire.scale_lower).toBeCloseTo(s * 0.9, 5);
    expect(wire.scale_upper).toBeCloseTo(s * 1.1, 5);
    expect(wire.center_ra).toBeCloseTo(83.8220833, 6);
    expect(wire.center_dec).toBeCloseTo(-5.3911111, 6);
    const bad = new Flags(parseArgs(['--downsample', '2.5'], specs, 'solve'));
    expect(() => uploadOptionsFromFlags(bad)).toThrow(ValidationError);
  });
});

describe('inputs', () => {
  const root = join(tmp, 'tree');
  mkdirSync(join(root, 'n1', 'deep'), { recursive: true });
  mkdirSync(join(root, '.hidden'), { recursive: true });
  for (const f of ['n1/a.fits', 'n1/b.png', 'n1/notes.txt', 'n1/deep/c.fits', 'n1/deep/a.fits', '.hidden/h.fits', 'top.fits']) writeFileSync(join(root, f), 'x');

  test('globs: * and ? stay in one segment, ** spans directories, {a,b} braces, dot names need a dot', () => {
    const rel = (pattern: string) => expandGlob(pattern, root).map((h) => h.path.slice(root.length + 1));
    expect(rel('**/*.fits')).toEqual(['n1/a.fits', 'n1/deep/a.fits', 'n1/deep/c.fits', 'top.fits']);
    expect(rel('*.fits')).toEqual(['top.fits']);
    expect(rel('n1/?.png')).toEqual(['n1/b.png']);
    expect(rel('n1/[ab].*')).toEqual(['n1/a.fits', 'n1/b.png']);
    expect(rel('n1/{a.fits,notes.txt}')).toEqual(['n1/a.fits', 'n1/notes.txt']);
    expect(rel('{top,n1/deep/c}.fits')).toEqual(['n1/deep/c.fits', 'top.fits']);
    expect(rel('.hidden/*.fits')).toEqual(['.hidden/h.fits']);
    expect(expandGlob(`${root}/n1/*.fits`).map((h) => h.path)).toEqual([join(root, 'n1/a.fits')]);
    expect(expandGlob('n1/*', root).filter((h) => h.isDirectory).map((h) => h.path.slice(root.length + 1))).toEqual(['n1/deep']);
  });

  test('directories give their images; repeated stems get a suffix; URLs and missing files', () => {
    const inputs = resolveInputs(['n1', 'n1/deep/*.fits', 'https://example.org/sky/m31.jpg?x=1', 'n1/a.fits'], [], root);
    expect(inputs.map((i) => [i.label, i.stem])).toEqual([
      ['n1/a.fits', 'a'],
      ['n1/b.png', 'b'],
      ['n1/deep/a.fits', 'a-2'],
      ['n1/deep/c.fits', 'c'],
      ['https://example.org/sky/m31.jpg?x=1', 'm31'],
    ]);
    expect(() => resolveInputs(['missing.fits'], [], root)).toThrow(/No such file/);
    expect(() => resolveInputs(['n1/*.jpg'], [], root)).toThrow(/No file matches/);
  });
});

describe('source lists', () => {
  test('text and CSV, with or without a header naming x and y', () => {
    expect(parseSourceListText('# stars\n1 2\n3.5 4\n')).toEqual({ x: [1, 3.5], y: [2, 4] });
    expect(parseSourceListText('flux,y,x\n10,2,1\n20,4,3\n')).toEqual({ x: [1, 3], y: [2, 4] });
    expect(() => parseSourceListText('1 2\n3 oops\n')).toThrow(/Line 2/);
    // Quoted cells, a semicolon or tab separator, CRLF, runs of spaces and a trailing comment.
    expect(parseSourceListText('"x","y"\r\n"1.5","2"\r\n3,4 # bright\r\n')).toEqual({ x: [1.5, 3], y: [2, 4] });
    expect(parseSourceListText('x;y\n1;2\n')).toEqual({ x: [1], y: [2] });
    expect(parseSourceListText('y\tx\n2\t1\n')).toEqual({ x: [1], y: [2] });
    expect(parseSourceListText('   1    2\n\n  3  4  \n')).toEqual({ x: [1, 3], y: [2, 4] });
    expect(() => parseSourceListText('x,y\n1,2\n3,\n')).toThrow(/Line 3/);
  });

  test('a FITS binary table with x/y columns, gzipped or not', () => {
    const table = xyTable([10.5, 20, 30.25], [5, 6.5, 7], ['flux_x_unused', 'Y']);
    expect(readXyColumns(table)).toBeUndefined();
    const good = xyTable([10.5, 20, 30.25], [5, 6.5, 7], ['x', 'y']);
    writeFileSync(join(tmp, 'xy.fits.gz'), gzipSync(good));
    expect(readSourceList(join(tmp, 'xy.fits.gz'))).toEqual({ x: [10.5, 20, 30.25], y: [5, 6.5, 7] });
  });

  test('bounded: a gzip bomb stops inflating at 64 MiB, and more than a million rows is refused', () => {
    writeFileSync(join(tmp, 'bomb.txt.gz'), gzipSync(Buffer.alloc(80 * 1024 * 1024, '1 1\n')));
    expect(() => readSourceList(join(tmp, 'bomb.txt.gz'))).toThrow(/inflates past 64 MiB/);
    writeFileSync(join(tmp, 'many.txt'), '1 1\n'.repeat(1_000_001));
    expect(() => readSourceList(join(tmp, 'many.txt'))).toThrow(/1000001 rows; at most 1000000/);
  });
});

describe('WCS merge', () => {
  test('a header that grows past a block keeps the data and later HDUs byte for byte', () => {
    const own = Array.from({ length: 28 }, (_, i) => card(`KEY${i}`, i));
    const data = int16Image(50, 40);
    const primary = fitsFile([card('SIMPLE', true), card('BITPIX', 16), card('NAXIS', 2), card('NAXIS1', 50), card('NAXIS2', 40), ...own], data);
    const extension = xyTable([1, 2], [3, 4]).subarray(2880);
    const image = new Uint8Array(primary.length + extension.length);
    image.set(primary);
    image.set(extension, primary.length);
    const wcsCards = [
      card('CTYPE1', 'RA---TAN-SIP'),
      card('CTYPE2', 'DEC--TAN-SIP'),
      card('CRVAL1', 83.8),
      card('CRVAL2', -5.4),
      card('CRPIX1', 25.5),
      card('CRPIX2', 20.5),
      card('CD1_1', -0.001),
      card('CD1_2', 0),
      card('CD2_1', 0),
      card('CD2_2', 0.001),
      card('A_ORDER', 2),
      card('A_0_2', 1e-6),
      card('B_ORDER', 2),
      card('B_2_0', -2e-6),
      card('AP_ORDER', 2),
      card('BP_ORDER', 2),
      card('EQUINOX', 2000),
      card('IMAGEW', 50),
      card('IMAGEH', 40),
      card('DATE', '2024-01-01'),
    ];
    const merged = mergeWcsIntoFits(image, fitsFile([card('SIMPLE', true), card('BITPIX', 8), card('NAXIS', 0), ...wcsCards]));
    const { cards, dataStart } = headerCards(merged);
    expect(dataStart).toBe(5760);
    for (const c of wcsCards.slice(0, -1)) expect(cards).toContain(c);
    expect(cards.map((c) => c.slice(0, 8).trim())).not.toContain('DATE');
    for (const c of own) expect(cards).toContain(c);
    expect(merged.subarray(dataStart)).toEqual(image.subarray(2880));
    expect(merged.length).toBe(image.length + 2880);
  });

  test("the image's own earlier solution goes whole: a stale RADESYS, SIP of another order, PV, PC, CDELT and CROTA are not left beside the new WCS", () => {
    const old = [
      card('SIMPLE', true),
      card('BITPIX', 16),
      card('NAXIS', 2),
      card('NAXIS1', 50),
      card('NAXIS2', 40),
      card('OBJECT', 'M42'),
      card('RADESYS', 'FK4'),
      card('EQUINOX', 1950),
      card('EPOCH', 1950),
      card('CTYPE1', 'RA---TAN-SIP'),
      card('CDELT1', -0.002),
      card('CROTA2', 12),
      card('PC1_1', 1),
      card('PV1_1', 0.5),
      card('A_ORDER', 3),
      card('A_3_0', 1e-9),
      card('BP_1_1', 2e-7),
    ];
    const image = fitsFile(old, int16Image(50, 40));
    const wcs = [card('CTYPE1', 'RA---TAN'), card('CTYPE2', 'DEC--TAN'), card('CRVAL1', 83.8), card('CRVAL2', -5.4), card('CRPIX1', 25.5), card('CRPIX2', 20.5), card('CD1_1', -0.001), card('CD1_2', 0), card('CD2_1', 0), card('CD2_2', 0.001), card('EQUINOX', 2000)];
    const merged = mergeWcsIntoFits(image, fitsFile([card('SIMPLE', true), card('BITPIX', 8), card('NAXIS', 0), ...wcs]));
    const keys = headerCards(merged).cards.map((c) => c.slice(0, 8).trim());
    for (const stale of ['RADESYS', 'EPOCH', 'CDELT1', 'CROTA2', 'PC1_1', 'PV1_1', 'A_ORDER', 'A_3_0', 'BP_1_1']) expect(keys, stale).not.toContain(stale);
    expect(keys.filter((k) => k === 'EQUINOX')).toHaveLength(1);
    expect(headerCards(merged).cards).toContain(card('EQUINOX', 2000));
    expect(headerCards(merged).cards).toContain(card('CTYPE1', 'RA---TAN'));
    expect(keys).toContain('OBJECT');
  });

  test('a WCS solved for an image of another size is refused, not merged', () => {
    const image = fitsFile([card('SIMPLE', true), card('BITPIX', 16), card('NAXIS', 2), card('NAXIS1', 50), card('NAXIS2', 40)], int16Image(50, 40));
    const wcs = (w: number, h: number) => fitsFile([card('SIMPLE', true), card('BITPIX', 8), card('NAXIS', 0), card('CTYPE1', 'RA---TAN'), card('CRVAL1', 1), card('IMAGEW', w), card('IMAGEH', h)]);
    expect(() => mergeWcsIntoFits(image, wcs(100, 80))).toThrow(/50 × 40 pixels, but the WCS was solved for one of 100 × 80/);
    expect(() => mergeWcsIntoFits(image, wcs(50, 40))).not.toThrow();
  });
});

describe('progress', () => {
  const fakeStream = (tty: boolean) => {
    const writes: string[] = [];
    return { writes, stream: { isTTY: tty, columns: 120, rows: 30, write: (s: string) => (writes.push(s), true) } as unknown as NodeJS.WriteStream };
  };

  test('on a TTY the live view is redrawn at most 5 times a second and shows upload bytes, rate, queue and ETA', () => {
    vi.useFakeTimers();
    try {
      let now = 0;
      const err = fakeStream(true);
      const out = fakeStream(true);
      const p = new Progress({ stderr: err.stream, stdout: out.stream, concurrency: 2, now: () => now });
      p.add('i0', 'big.fits');
      p.add('i1', 'other.fits');
      p.add('i2', 'later.fits');
      for (let i = 0; i <= 100; i++) {
        now = i * 10;
        p.update('i0', 'uploading', { upload: { sentBytes: i * 10_000, totalBytes: 1_000_000 } });
        vi.advanceTimersByTime(10);
      }
      const draws = err.writes.filter((w) => w.includes('running')).length;
      expect(draws).toBeGreaterThanOrEqual(4);
      expect(draws).toBeLessThanOrEqual(6);
      const view = p.render().join('\n');
      expect(view).toMatch(/big\.fits\s+uploading \[#+\.*\] 100% 976\.6 kB\/976\.6 kB 976\.6 kB\/s/);
      expect(view).toContain('queued: other.fits, later.fits');
      p.update('i1', 'jobRunning.waiting', { subid: 7, jobId: 9 });
      p.settle('i0', 'success');
      now = 4000;
      expect(p.render()[0]).toMatch(/^1\/3 done \(1 solved, 0 failed\) · 1 running · 1 queued · 0:04 elapsed · ETA 0:08/);
      p.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  test('a login or upload being retried is said at once, each attempt once, and the live view counts down to the next', () => {
    let now = 10_000;
    const err = fakeStream(false);
    const p = new Progress({ stderr: err.stream, stdout: fakeStream(false).stream, concurrency: 1, now: () => now });
    p.add('i0', 'm42.png');
    const retrying = (attempt: number) => ({ problem: 'cannot reach nova.test: ECONNREFUSED', attempt, retryAt: now + 12_000 });
    p.update('i0', 'loggingIn', { retrying: retrying(1) });
    p.update('i0', 'loggingIn', { retrying: retrying(1) });
    p.update('i0', 'loggingIn', { retrying: retrying(2) });
    const lines = err.writes.join('').trim().split('\n').map((l) => l.replace(/^\S+ /, ''));
    expect(lines).toEqual([
      'm42.png: loggingIn',
      'm42.png: cannot reach nova.test: ECONNREFUSED, retrying in 12 s (attempt 1)',
      'm42.png: cannot reach nova.test: ECONNREFUSED, retrying in 12 s (attempt 2)',
    ]);
    now += 5_000;
    expect(p.render().join('\n')).toMatch(/m42\.png\s+loggingIn\s+cannot reach nova\.test: ECONNREFUSED, retrying in 7 s \(attempt 2\)/);
    p.update('i0', 'uploading', { retrying: null });
    expect(p.render().join('\n')).not.toContain('cannot reach');
    p.stop();
  });

  test('the live view measures display width: CJK and emoji names keep every line within the terminal', () => {
    const err = fakeStream(true);
    const p = new Progress({ stderr: err.stream, stdout: fakeStream(true).stream, concurrency: 3, now: () => 0 });
    const names = ['オリオン大星雲_2024年12月7日_露出300秒_フレーム001.fits', '🌌🔭 galaxy-field-with-a-very-long-name.fits', 'M42 北天 撮影.fits'];
    names.forEach((n, i) => p.add(`i${i}`, n));
    names.forEach((_, i) => p.update(`i${i}`, 'jobRunning.waiting', { subid: 7 }));
    const lines = p.render().map((segments) => (Array.isArray(segments) ? segments.map(String).join('') : String(segments)));
    for (const line of lines) expect(displayWidth(line.replace(/\u001b\[[0-9;]*m/g, '')), line).toBeLessThanOrEqual(119);
    expect(displayWidth(middleEllipsis('オリオン大星雲フレーム', 9))).toBeLessThanOrEqual(9);
    expect(middleEllipsis('オリオン大星雲フレーム', 9)).toMatch(/^オリ…ーム$/);
    expect(displayWidth('a🌌é')).toBe(4);
    p.stop();
  });

  test('elsewhere one timestamped line per state change, not per poll', () => {
    const err = fakeStream(false);
    const out = fakeStream(false);
    const p = new Progress({ stderr: err.stream, stdout: out.stream, concurrency: 1 });
    p.add('i0', 'm42.png');
    for (const s of ['loggingIn', 'uploading', 'submissionPending.waiting', 'submissionPending.reading', 'submissionPending.waiting', 'jobRunning.reading', 'jobRunning.waiting', 'jobRunning.reading']) {
      p.update('i0', s, {});
    }
    const lines = err.writes.join('').trim().split('\n');
    expect(lines.map((l) => l.replace(/^\S+ /, ''))).toEqual(['m42.png: loggingIn', 'm42.png: uploading', 'm42.png: submissionPending', 'm42.png: jobRunning']);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
  });
});

describe('journal plans', () => {
  const entry = (patch: object) => ({ ...newEntry('k', '/x.fits'), ...patch });
  const present = { reupload: false, filesPresent: () => true };
  test('done inputs are skipped, started ones resumed, cut-off uploads held back unless --reupload', () => {
    expect(planFor(undefined, present).action).toBe('upload');
    expect(planFor(entry({ done: true, outcome: 'success', jobId: 3 }), present).action).toBe('skip');
    expect(planFor(entry({ done: true, outcome: 'success', jobId: 3, subid: 2 }), { ...present, filesPresent: () => false })).toMatchObject({ action: 'resumeJob', jobId: 3 });
    expect(planFor(entry({ done: true, outcome: 'failure', jobId: 3 }), present).action).toBe('skip');
    expect(planFor(entry({ subid: 2, stage: 'submissionPending' }), present)).toMatchObject({ action: 'resumeSubmission', subid: 2 });
    expect(planFor(entry({ stage: 'uploading' }), present).action).toBe('interrupted');
    expect(planFor(entry({ stage: 'uploading' }), { ...present, reupload: true }).action).toBe('upload');
    expect(planFor(entry({ stage: 'loggingIn' }), present).action).toBe('upload');
  });

  test('an entry written by 0.1.0 (`phase`, not `stage`) is read with its phase as the stage', () => {
    const outDir = join(tmp, 'journal-0.1.0');
    mkdirSync(join(outDir, JOURNAL_DIR), { recursive: true });
    // Exactly as 0.1.0 wrote it: a solve cut off mid-upload.
    const written = {
      format: 'astrometry-net-cli/journal@1',
      key: '0f3c1e7b9a2d4c6e8f0a1b2c3d4e5f60',
      input: '/data/m42.fits',
      state: 'uploading',
      phase: 'uploading',
      subid: null,
      jobId: null,
      done: false,
      outcome: null,
      calibration: null,
      error: null,
      files: {},
      updatedAt: '2025-01-01T00:00:00.000Z',
    };
    writeFileSync(join(outDir, JOURNAL_DIR, `${written.key}.json`), `${JSON.stringify(written, null, 2)}\n`);
    const read = new Journal(outDir).read(written.key);
    const { phase: _phase, ...rest } = written;
    expect(read).toEqual({ ...rest, stage: 'uploading' });
    expect(planFor(read, present).action).toBe('interrupted');
    expect(planFor(read, { ...present, reupload: true }).action).toBe('upload');
  });
});

describe('solve --help', () => {
  test('names every flag solve takes (as --name, or --no-name for one that is on by default)', async () => {
    const { SOLVE_FLAGS } = await import('../src/cli/commands/solve.js');
    const { SOLVE_HELP } = await import('../src/cli/help.js');
    const named = (name: string) => new RegExp(`--(no-)?${name}(?![\\w-])`).test(SOLVE_HELP);
    expect(SOLVE_FLAGS.map((f) => f.name).filter((name) => name !== 'help' && !named(name))).toEqual([]);
  });
});
