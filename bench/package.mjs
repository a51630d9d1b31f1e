#!/usr/bin/env node
// What a user of the client package gets, measured on the packed tarball as npm would install it:
// tarball size and contents, a cold lean install (`npm install <tarball> xstate`), the CLI's
// `serve --help` without the server package, the initial load of a browser bundle (esbuild and
// rolldown, Vite 8's bundler), and export counts per subpath. Prints a markdown table, then one
// JSON line.
//
//   npm run build && node bench/package.mjs                     # this checkout
//   node bench/package.mjs /path/to/checkout --json-out a.json  # another (already built) checkout
//   node bench/package.mjs --before a.json                      # adds a "before" column from a.json
//   node bench/package.mjs --before /path/to/checkout           # ... or measures it too (twice as long)
//
// Nothing is built here: a checkout without dist/ is refused. esbuild, rolldown and typescript
// come from the checkout's node_modules, else from this repository's. Temp dirs (OS temp
// directory) are removed afterwards unless BENCH_KEEP=1.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..');
const EXTERNAL = ['xstate', '@xstate/react', 'react', 'react-dom', '@statelyai/inspect'];
// Module paths that the library loads with import() only, so none should be in an initial load.
const LAZY = ['jpeg-js', 'fast-png', '/fits/', '/wcs/', '/extract/'];
const SERVER_PACKAGE = 'astrometry-net-server';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: { before: { type: 'string' }, 'json-out': { type: 'string' } },
});
const checkout = resolve(positionals[0] ?? repoRoot);

const tmpDirs = [];
process.on('exit', () => {
  if (process.env.BENCH_KEEP === '1') console.error(`kept: ${tmpDirs.join(' ')}`);
  else for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

const log = (...a) => console.error('[package]', ...a);
const mkTmp = (prefix) => {
  const d = mkdtempSync(join(tmpdir(), `bench-package-${prefix}-`));
  tmpDirs.push(d);
  return d;
};
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const gzip = (buf) => gzipSync(buf, { level: 9 }).length;

function run(cmd, args, cwd, { allowFail = false } = {}) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0 && !allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd} (exit ${r.status}):\n${r.stderr}\n${r.stdout}`);
  }
  return { ...r, seconds };
}

/** esbuild, rolldown and typescript: the checkout's own, else this repository's. */
async function loadTools(dir) {
  const requires = [dir, repoRoot].map((d) => createRequire(join(d, 'package.json')));
  const find = (name) => {
    for (const req of requires) {
      try {
        return req.resolve(name);
      } catch {
        /* next */
      }
    }
    throw new Error(`${name} not found in ${dir}/node_modules nor ${repoRoot}/node_modules`);
  };
  const version = (entry, name) => {
    // The package.json above the resolved entry file (rolldown does not export ./package.json).
    for (let d = dirname(entry); d !== dirname(d); d = dirname(d)) {
      const p = join(d, 'package.json');
      if (existsSync(p) && readJson(p).name === name) return `${readJson(p).version} (${d})`;
    }
    return '?';
  };
  const esbuildPath = find('esbuild');
  const rolldownPath = find('rolldown'); // ESM only: imported, not required
  const tsPath = find('typescript');
  return {
    esbuild: createRequire(esbuildPath)(esbuildPath),
    rolldown: await import(pathToFileURL(rolldownPath).href),
    ts: createRequire(tsPath)(tsPath),
    versions: {
      esbuild: version(esbuildPath, 'esbuild'),
      rolldown: version(rolldownPath, 'rolldown'),
      typescript: version(tsPath, 'typescript'),
    },
  };
}

/** Source files (src/, machines/) newer than the file tsc built from them. */
function staleDist(dir) {
  const stale = [];
  const walk = (sub) => {
    let entries;
    try {
      entries = readdirSync(join(dir, sub), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = join(sub, e.name);
      if (e.isDirectory()) walk(rel);
      else if (/(?<!\.d)\.tsx?$/.test(e.name)) {
        const built = join(dir, 'dist', rel.replace(/\.tsx?$/, '.js'));
        if (!existsSync(built) || statSync(join(dir, rel)).mtimeMs > statSync(built).mtimeMs) stale.push(rel);
      }
    }
  };
  walk('src');
  walk('machines');
  return stale;
}

/** Every package directory under node_modules, nested ones included. */
function packageDirs(nodeModules) {
  const out = [];
  const walkNM = (nm) => {
    let entries;
    try {
      entries = readdirSync(nm, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.') || !(e.isDirectory() || e.isSymbolicLink())) continue;
      const p = join(nm, e.name);
      if (e.name.startsWith('@')) {
        for (const s of readdirSync(p, { withFileTypes: true })) {
          if (s.isDirectory() || s.isSymbolicLink()) visit(join(p, s.name));
        }
      } else visit(p);
    }
  };
  const visit = (d) => {
    if (existsSync(join(d, 'package.json'))) out.push(d);
    walkNM(join(d, 'node_modules'));
  };
  walkNM(nodeModules);
  return out;
}

/** Why a package directory is a native module, or null. */
function nativeReason(d) {
  if (existsSync(join(d, 'binding.gyp'))) return 'binding.gyp';
  try {
    if (readJson(join(d, 'package.json')).gypfile === true) return 'gypfile';
  } catch {
    /* ignore */
  }
  const stack = [d];
  while (stack.length) {
    const cur = stack.pop();
    for (const e of readdirSync(cur, { withFileTypes: true })) {
      if (e.name === 'node_modules') continue; // nested packages are checked on their own
      if (e.isDirectory()) stack.push(join(cur, e.name));
      else if (e.name.endsWith('.node')) return '.node file';
    }
  }
  return null;
}

/** Sizes of an initial load (chunks: [{ code: Buffer, inputs: string[] }]) and what it holds. */
function summarize(initial, allCodes, warnings) {
  const codes = initial.map((c) => c.code);
  const text = Buffer.concat(codes).toString('utf8');
  const nodeOnly = [...new Set(text.match(/["'`]node:[a-z_/]+["'`]/g) ?? [])];
  for (const s of ['undici', 'form-data']) if (text.includes(s)) nodeOnly.push(s);
  const inputs = [...new Set(initial.flatMap((c) => c.inputs))].map((p) => '/' + p.replaceAll('\\', '/'));
  const lazy = {};
  for (const pat of LAZY) {
    const n = inputs.filter((p) => p.includes(pat)).length;
    if (n) lazy[pat] = n;
  }
  return {
    ok: true,
    initialChunks: initial.length,
    initialMinBytes: codes.reduce((n, b) => n + b.length, 0),
    initialGzipConcat: gzip(Buffer.concat(codes)),
    initialGzipSum: codes.reduce((n, b) => n + gzip(b), 0),
    initialInputFiles: inputs.length,
    allChunks: allCodes.length,
    allGzipSum: allCodes.reduce((n, b) => n + gzip(b), 0),
    nodeOnly,
    lazyModules: lazy,
    warnings,
  };
}

/** esbuild with code splitting: the entry chunk and the chunks it imports statically. */
async function esbuildInitial(esbuild, proj, entryFile) {
  const r = await esbuild.build({
    entryPoints: [entryFile],
    absWorkingDir: proj, // metafile paths are relative to this
    outdir: join(proj, 'out-esbuild'),
    bundle: true,
    splitting: true,
    format: 'esm',
    minify: true,
    platform: 'browser',
    conditions: ['browser', 'module'],
    external: EXTERNAL,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const outs = r.metafile.outputs;
  const code = new Map(r.outputFiles.map((f) => [relative(proj, f.path), Buffer.from(f.contents)]));
  // Every import() target is an entry point of its own in the metafile: find the one asked for.
  const entryIn = relative(proj, entryFile);
  const entry = Object.keys(outs).find((k) => outs[k].entryPoint === entryIn);
  const seen = new Set();
  const stack = [entry];
  while (stack.length) {
    const k = stack.pop();
    if (seen.has(k)) continue;
    seen.add(k);
    for (const i of outs[k].imports) if (i.kind === 'import-statement' && outs[i.path]) stack.push(i.path);
  }
  const initial = [...seen].map((k) => ({ code: code.get(k), inputs: Object.keys(outs[k].inputs) }));
  return summarize(initial, [...code.values()], r.warnings.length);
}

/** rolldown (Vite 8's bundler), which splits at import() by itself: entry chunk plus its static imports. */
async function rolldownInitial(rolldown, proj, entryFile) {
  const warnings = [];
  const bundle = await rolldown.rolldown({
    input: entryFile,
    cwd: proj,
    // A function, so that subpaths (xstate/…) are external too, as esbuild does by itself.
    external: (id) => EXTERNAL.some((e) => id === e || id.startsWith(e + '/')),
    platform: 'browser',
    resolve: { conditionNames: ['browser', 'import', 'default'] },
    onLog: (level, l) => level === 'warn' && warnings.push(l.message),
  });
  let output;
  try {
    ({ output } = await bundle.generate({ format: 'esm', minify: true }));
  } finally {
    await bundle.close();
  }
  const chunks = new Map(output.filter((o) => o.type === 'chunk').map((c) => [c.fileName, c]));
  const seen = new Set();
  const stack = [[...chunks.values()].find((c) => c.isEntry).fileName];
  while (stack.length) {
    const k = stack.pop();
    if (seen.has(k)) continue;
    seen.add(k);
    for (const i of chunks.get(k).imports) if (chunks.has(i)) stack.push(i); // externals are in imports too
  }
  const initial = [...seen].map((k) => ({ code: Buffer.from(chunks.get(k).code), inputs: chunks.get(k).moduleIds }));
  const all = [...chunks.values()].map((c) => Buffer.from(c.code));
  return summarize(initial, all, warnings.length);
}

function pickTarget(t, conds) {
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    for (const x of t) {
      const r = pickTarget(x, conds);
      if (r) return r;
    }
    return null;
  }
  if (t && typeof t === 'object') {
    for (const [k, v] of Object.entries(t)) {
      if (!conds.includes(k)) continue;
      const r = pickTarget(v, conds);
      if (r) return r;
    }
  }
  return null;
}

function typedExports(ts, dtsFile) {
  const program = ts.createProgram([dtsFile], {
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  });
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(dtsFile);
  const sym = sf && checker.getSymbolAtLocation(sf);
  if (!sym) return { error: 'no module symbol' };
  const exps = checker.getExportsOfModule(sym);
  let values = 0;
  for (const e of exps) {
    const t = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
    if (t.flags & ts.SymbolFlags.Value) values++;
  }
  return { total: exps.length, values, typeOnly: exps.length - values };
}

function runtimeExports(proj, spec) {
  const script = `const m = await import(${JSON.stringify(spec)}); process.stdout.write(JSON.stringify(Object.keys(m)));`;
  const r = run(process.execPath, ['--input-type=module', '-e', script], proj, { allowFail: true });
  if (r.status !== 0) return { error: (r.stderr.match(/^\w*Error.*$/m) ?? [r.stderr.trim().split('\n').pop()])[0] };
  return { count: JSON.parse(r.stdout).length };
}

async function measure(dir) {
  const pkg = readJson(join(dir, 'package.json'));
  if (!existsSync(join(dir, 'dist'))) throw new Error(`${dir} has no dist/: run npm run build first`);
  const stale = staleDist(dir);
  if (stale.length) log(`warning: ${stale.length} sources in ${dir} are newer than dist/ (e.g. ${stale[0]}); not rebuilding`);
  const tools = await loadTools(dir);
  const result = {
    checkout: dir,
    commit: null,
    package: `${pkg.name}@${pkg.version}`,
    node: process.version,
    npm: run('npm', ['--version'], dir).stdout.trim(),
    tools: tools.versions,
    staleSources: stale.length,
  };
  try {
    result.commit = run('git', ['rev-parse', '--short', 'HEAD'], dir).stdout.trim();
  } catch {
    /* not a git checkout */
  }

  // Tarball. --ignore-scripts: a prepack/prepare script must not build anything here.
  log(`npm pack ${dir}`);
  const packDir = mkTmp('pack');
  const pack = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packDir], dir).stdout)[0];
  const tarball = join(packDir, pack.filename);
  result.tarball = {
    file: pack.filename,
    files: pack.entryCount ?? pack.files.length,
    packedBytes: pack.size,
    unpackedBytes: pack.unpackedSize,
    serverFiles: pack.files.filter((f) => /(^|\/)server\//.test(f.path)).length,
  };

  // Lean install with an empty cache: everything from the registry, as for a first-time user.
  const proj = mkTmp('proj');
  const cache = mkTmp('cache');
  run('npm', ['init', '-y'], proj);
  log('npm install <tarball> xstate (cold cache)');
  // --timing --loglevel=timing: npm then logs how long each dependency's install script took.
  const args = ['install', tarball, 'xstate', '--no-audit', '--no-fund', '--cache', cache, '--timing', '--loglevel=timing'];
  const inst = run('npm', args, proj);
  const dirs = packageDirs(join(proj, 'node_modules'));
  const names = dirs.map((d) => readJson(join(d, 'package.json')).name);
  const native = dirs.map((d, i) => [names[i], nativeReason(d)]).filter(([, why]) => why);
  const out = inst.stdout + inst.stderr;
  result.install = {
    seconds: +inst.seconds.toFixed(2),
    packages: dirs.length,
    nativeModules: native.length,
    native: native.map(([n, why]) => `${n} (${why})`),
    betterSqlite3: names.includes('better-sqlite3'),
    pg: names.includes('pg'),
    serverPackage: names.includes(SERVER_PACKAGE),
    installScripts: [
      ...out.matchAll(/build:run:(preinstall|install|postinstall):node_modules\/(\S+) Completed in (\d+)ms/g),
    ].map(([, phase, p, ms]) => ({ pkg: p.replace(/.*node_modules\//, ''), phase, seconds: +(ms / 1000).toFixed(1) })),
    npmSummary: (out.match(/added \d+ packages?[^\n]*/) ?? [''])[0],
  };

  // The CLI as installed: `serve` without the server package should exit 2 and say what to install.
  const pkgDir = join(proj, 'node_modules', ...pkg.name.split('/'));
  const installed = readJson(join(pkgDir, 'package.json'));
  const bin = typeof installed.bin === 'string' ? installed.bin : Object.values(installed.bin ?? {})[0];
  if (bin) {
    const cli = run(process.execPath, [join('node_modules', pkg.name, bin), 'serve', '--help'], proj, { allowFail: true });
    result.cli = {
      bin,
      exitCode: cli.status,
      suggestsServerInstall: cli.stderr.includes(`npm install ${SERVER_PACKAGE}`),
      stderrFirstLine: cli.stderr.trim().split('\n')[0] ?? '',
    };
  }

  // Browser bundles, entry files inside the project so that the package resolves from them.
  const entries = {
    client: `import { Client } from '${pkg.name}'; console.log(Client);`,
    react: `import { useSolve, AstrometryProvider } from '${pkg.name}/react'; console.log(useSolve, AstrometryProvider);`,
  };
  result.bundles = { esbuild: {}, rolldown: {} };
  for (const [label, code] of Object.entries(entries)) {
    const entryFile = join(proj, `entry-${label}.js`);
    writeFileSync(entryFile, code);
    for (const [bundler, fn] of [
      ['esbuild', () => esbuildInitial(tools.esbuild, proj, entryFile)],
      ['rolldown', () => rolldownInitial(tools.rolldown, proj, entryFile)],
    ]) {
      log(`${bundler} ${label}`);
      try {
        result.bundles[bundler][label] = await fn();
      } catch (e) {
        const msg = (e.errors ?? []).map((x) => x.text).join('\n') || String(e.message ?? e);
        log(`${bundler} ${label} failed:\n${msg}`);
        result.bundles[bundler][label] = { ok: false, error: msg.split('\n')[0] };
      }
    }
  }

  // Export counts. The optional peers are installed first (not counted above) so that ./react
  // and ./inspect can be imported in Node.
  log('npm install react @xstate/react @statelyai/inspect (not counted)');
  run('npm', ['install', 'react', '@xstate/react', '@statelyai/inspect', '--no-audit', '--no-fund', '--cache', cache], proj);
  const exp = installed.exports;
  const exportsMap =
    exp && typeof exp === 'object' && !Array.isArray(exp) && Object.keys(exp).every((k) => k.startsWith('.'))
      ? exp
      : { '.': exp ?? installed.main };
  result.exports = {};
  for (const [sub, target] of Object.entries(exportsMap)) {
    const jsTarget = pickTarget(target, ['node', 'import', 'default']);
    if (!jsTarget || jsTarget.endsWith('.json') || sub.includes('*')) continue; // package.json, schema.json
    const spec = sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`;
    const types = pickTarget(target, ['types']) ?? (sub === '.' ? (installed.types ?? installed.typings) : null);
    result.exports[sub] = {
      runtime: runtimeExports(proj, spec),
      typed: types ? typedExports(tools.ts, join(pkgDir, types)) : { error: 'no types entry' },
    };
  }
  return result;
}

// ---------------------------------------------------------------- main
const after = await measure(checkout);
let before = null;
if (opts.before) {
  const b = resolve(opts.before);
  before = statSync(b).isDirectory() ? await measure(b) : readJson(b);
}
if (opts['json-out']) {
  mkdirSync(dirname(resolve(opts['json-out'])), { recursive: true });
  writeFileSync(opts['json-out'], JSON.stringify(after) + '\n');
}

const kb = (n) => (n == null ? 'n/a' : `${n.toLocaleString('en-US')} B (${(n / 1024).toFixed(1)} KiB)`);
const yn = (b) => (b == null ? 'n/a' : b ? 'yes' : 'no');
const rows = [];
/** One table row; `fn` reads a result, and a field missing from an older JSON shows n/a. */
const row = (label, fn) => {
  const cell = (r) => {
    try {
      const v = fn(r);
      return String(v ?? 'n/a').replace(/\|/g, '\\|');
    } catch {
      return 'n/a';
    }
  };
  rows.push(`| ${label} | ${before ? `${cell(before)} | ` : ''}${cell(after)} |`);
};
row('package', (r) => `${r.package} @ ${r.commit ?? '?'}`);
row('sources newer than dist/', (r) => r.staleSources);
row('tarball files', (r) => r.tarball.files);
row('tarball packed size', (r) => kb(r.tarball.packedBytes));
row('tarball unpacked size', (r) => kb(r.tarball.unpackedBytes));
row('tarball has server code (`server/`)', (r) => `${yn(r.tarball.serverFiles > 0)} (${r.tarball.serverFiles} files)`);
row('install, cold cache: wall time', (r) => `${r.install.seconds} s`);
row('install: packages in node_modules', (r) => r.install.packages);
row('install: native modules', (r) => `${r.install.nativeModules}${r.install.native.length ? ` (${r.install.native.join(', ')})` : ''}`);
row('install: better-sqlite3 / pg present', (r) => `${yn(r.install.betterSqlite3)} / ${yn(r.install.pg)}`);
row(`install: ${SERVER_PACKAGE} installed`, (r) => yn(r.install.serverPackage));
row('install: dependency install scripts run (time)', (r) =>
  r.install.installScripts.length ? r.install.installScripts.map((x) => `${x.pkg} ${x.phase} ${x.seconds} s`).join(', ') : 'none',
);
row('CLI `serve --help`: exit code', (r) => r.cli.exitCode);
row(`CLI \`serve --help\`: stderr says \`npm install ${SERVER_PACKAGE}\``, (r) => yn(r.cli.suggestsServerInstall));
for (const bundler of ['esbuild', 'rolldown']) {
  for (const label of ['client', 'react']) {
    const b = (r) => {
      const x = r.bundles[bundler][label];
      if (!x.ok) throw new Error(x.error);
      return x;
    };
    const name = `${bundler} ${label}`;
    row(`${name}: initial chunks (of all)`, (r) => `${b(r).initialChunks} (of ${b(r).allChunks})`);
    row(`${name}: initial minified`, (r) => kb(b(r).initialMinBytes));
    row(`${name}: initial gzip -9, concatenated`, (r) => kb(b(r).initialGzipConcat));
    row(`${name}: initial gzip -9, per chunk summed`, (r) => kb(b(r).initialGzipSum));
    row(`${name}: all chunks gzip -9, per chunk summed`, (r) => kb(b(r).allGzipSum));
    row(`${name}: Node-only in initial load`, (r) => (b(r).nodeOnly.length ? `yes (${b(r).nodeOnly.join(', ')})` : 'no'));
    row(`${name}: lazy modules in initial load (${LAZY.join(' ')})`, (r) => {
      const l = Object.entries(b(r).lazyModules);
      return l.length ? l.map(([k, n]) => `${k} ×${n}`).join(', ') : 'none';
    });
  }
}
const subs = [...new Set([...Object.keys(before?.exports ?? {}), ...Object.keys(after.exports)])];
for (const sub of subs) {
  row(`exports \`${sub}\`: runtime / typed`, (r) => {
    const e = r.exports[sub];
    if (!e) return 'absent';
    const rt = e.runtime.error ? `error: ${e.runtime.error}` : e.runtime.count;
    const ty = e.typed.error ? `error: ${e.typed.error}` : `${e.typed.total} (${e.typed.values} values, ${e.typed.typeOnly} type-only)`;
    return `${rt} / ${ty}`;
  });
}
console.log(`Package as a user gets it (node ${after.node}, npm ${after.npm}, esbuild ${after.tools.esbuild.split(' ')[0]}, rolldown ${after.tools.rolldown.split(' ')[0]})\n`);
console.log(`| metric | ${before ? 'before | after' : 'value'} |\n| --- | --- |${before ? ' --- |' : ''}\n${rows.join('\n')}`);
console.log('\n' + JSON.stringify(after));
