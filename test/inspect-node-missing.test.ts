/**
 * `@statelyai/inspect` is an optional peer dependency. Without it, createNodeInspector says what
 * to install. Checked for real: the module and what it imports are compiled into a directory
 * with no node_modules anywhere above it, and run by plain Node, so the package truly is absent.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { expect, test } from 'vitest';

const SRC = new URL('../src/', import.meta.url);

test('without @statelyai/inspect, createNodeInspector tells the user to install it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'astrometry-net-no-inspect-'));
  try {
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    mkdirSync(join(dir, 'inspect'));
    for (const name of ['inspect/node-inspector', 'inspect/serve-page', 'inspect/sanitize', 'errors']) {
      const source = readFileSync(new URL(`${name}.ts`, SRC), 'utf8');
      const { outputText } = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2023, verbatimModuleSyntax: true },
      });
      writeFileSync(join(dir, `${name}.js`), outputText);
    }
    const script = `
      import { createNodeInspector } from './inspect/node-inspector.js';
      try { await createNodeInspector(); console.log('started'); process.exit(0); }
      catch (e) { console.log(JSON.stringify({ message: e.message, cause: e.cause?.code })); }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { message: string; cause: string };
    expect(out.message).toMatch(/npm install @statelyai\/inspect/);
    expect(out.cause).toBe('ERR_MODULE_NOT_FOUND');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
