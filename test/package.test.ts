/**
 * The package as npm would publish it: packed with `npm pack`, unpacked, and checked the way a
 * user's tools see it (publint, arethetypeswrong), plus what neither checks: every source map can
 * show its sources, and the LICENSE and the CLI's JSON schema are in the tarball.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SOLVE_JSON_SCHEMA } from '../src/cli/json-schema.js';
import { buildCli, ROOT } from './helpers/cli-run.js';

const work = mkdtempSync(join(tmpdir(), 'astrometry-net-pack-'));
let unpacked = '';
let tarball = '';

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

beforeAll(async () => {
  await buildCli();
  const packed = spawnSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' });
  expect(packed.status, packed.stderr).toBe(0);
  const [info] = JSON.parse(packed.stdout) as { filename: string; size: number; unpackedSize: number; entryCount: number }[];
  tarball = join(work, (info as { filename: string }).filename);
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', work]);
  expect(untar.status).toBe(0);
  unpacked = join(work, 'package');
  console.log(`tarball: ${info?.entryCount} files, ${info?.size} bytes packed, ${info?.unpackedSize} unpacked`);
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed tarball', () => {
  it('has the LICENSE, the README and the generated JSON schema of solve --json', () => {
    expect(readFileSync(join(unpacked, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    expect(existsSync(join(unpacked, 'README.md'))).toBe(true);
    expect(JSON.parse(readFileSync(join(unpacked, 'schema.json'), 'utf8'))).toEqual(SOLVE_JSON_SCHEMA);
  });

  it('solve --help points to the shipped schema file', () => {
    const help = spawnSync(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'solve', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('astrometry-net-client/schema.json');
    const pkg = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    expect(existsSync(join(unpacked, pkg.exports['./schema.json'] as string))).toBe(true);
  });

  it('has no source map pointing at a file it does not ship', () => {
    const maps = walk(unpacked).filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(10);
    const broken: string[] = [];
    for (const map of maps) {
      const { sources, sourcesContent } = JSON.parse(readFileSync(map, 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      sources.forEach((source, i) => {
        const embedded = typeof sourcesContent?.[i] === 'string';
        if (!embedded && !existsSync(resolve(dirname(map), source))) broken.push(`${map.slice(unpacked.length)} -> ${source}`);
      });
    }
    expect(broken).toEqual([]);
  });

  it('ships no build leftovers or tests, and its bin runs', () => {
    const files = walk(unpacked).map((f) => f.slice(unpacked.length + 1));
    expect(files.filter((f) => f.startsWith('test/') || f.includes('.cli-test-build') || f.endsWith('.tsbuildinfo'))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const bin = join(unpacked, pkg.bin['astrometry-net'] as string);
    expect(statSync(bin).isFile()).toBe(true);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  });
});

describe('npm run lint:package', () => {
  // The script builds first; here the build is done, so its two checks are run as it runs them.
  const script = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['lint:package'] as string;
  const checks = script.split('&&').map((s) => s.trim()).filter((s) => !s.startsWith('npm run build'));

  it.each(checks)('%s passes', (command) => {
    const r = spawnSync(command, { cwd: ROOT, shell: true, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  }, 120_000);
});

describe('the client alone', () => {
  /** Relative modules a file imports statically (`import … from`, `export … from`, bare `import '…'`). */
  const staticImports = (file: string): string[] =>
    [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s[^'";]*?(?:from\s*)?['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => resolve(dirname(file), m[1] as string));
  const pkg = () =>
    JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as {
      exports: Record<string, string | Record<string, string>>;
      bin: Record<string, string>;
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
  /** Every module reachable from these entry files through static imports. */
  const closure = (entries: string[]): string[] => {
    const seen = new Set<string>();
    const queue = entries.map((p) => join(unpacked, p));
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      queue.push(...staticImports(file));
    }
    return [...seen].map((f) => f.slice(unpacked.length + 1));
  };

  it('ships no server code and depends on no database driver or native module', () => {
    const files = walk(unpacked).map((f) => f.slice(unpacked.length + 1));
    expect(files.filter((f) => /(^|\/)server\//.test(f))).toEqual([]);
    const { dependencies = {}, optionalDependencies = {}, peerDependencies = {} } = pkg();
    const all = Object.keys({ ...dependencies, ...optionalDependencies, ...peerDependencies });
    expect(all.filter((name) => ['better-sqlite3', 'pg', 'astrometry-net-server'].includes(name))).toEqual([]);
    expect(optionalDependencies).toEqual({});
  });

  it('loads FITS, WCS, extraction and the batch machine only when used: the entries do not import them statically', () => {
    const exported = pkg().exports;
    const entries = ['.', './react'].flatMap((k) => Object.values(exported[k] as Record<string, string>)).filter((p) => p.endsWith('.js'));
    const reached = closure(entries);
    expect(reached.length).toBeGreaterThan(20);
    const heavy = reached.filter((f) => /\/(fits|wcs|extract)\/|batch\.machine|batch-driver|account\.machine|local-extraction/.test(f));
    expect(heavy).toEqual([]);
  });

  it('has at most 40 runtime exports at its main entry, and the subpaths the README names', async () => {
    const main = await import(join(unpacked, (pkg().exports['.'] as Record<string, string>).default as string));
    const names = Object.keys(main);
    console.log(`main entry: ${names.length} runtime exports`);
    expect(names.length).toBeLessThanOrEqual(40);
    expect(names).toEqual(expect.arrayContaining(['Client', 'Session', 'Submission', 'Job', 'FileUpload', 'UrlUpload', 'SourceListUpload', 'createSolveLogic']));
    expect(Object.keys(pkg().exports).sort()).toEqual(
      ['.', './extract', './fits', './inspect', './machines', './package.json', './react', './schema.json', './wcs'].sort(),
    );
  });

  it('`serve` and `indexes` without the server package say the one command that installs it, and exit 2', () => {
    // The unpacked tarball has no node_modules beside it, as after `npm install astrometry-net-client` alone.
    const bin = join(unpacked, pkg().bin['astrometry-net'] as string);
    for (const args of [['serve'], ['serve', '--help'], ['indexes', 'list']]) {
      const r = spawnSync(process.execPath, [bin, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain('npm install astrometry-net-server');
      expect(r.stdout).toBe('');
    }
  });
});
