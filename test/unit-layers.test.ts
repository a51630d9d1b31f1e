/**
 * The library stands without the CLI: no module outside src/cli/ imports one inside it (the
 * browser bundle and a library user must not carry the command line's code).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, test } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');
/** Whether a path relative to src/ is inside src/cli/ (not src/client/). */
const inCli = (path: string) => path.split(/[\\/]/)[0] === 'cli';
const walk = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

test('no module outside src/cli/ imports from src/cli/', () => {
  const offenders = walk(SRC)
    .filter((f) => !inCli(relative(SRC, f)))
    .flatMap((f) => {
      const imports = [...readFileSync(f, 'utf8').matchAll(/(?:from|import\()\s*'([^']+)'/g)].map((m) => m[1] as string);
      return imports.filter((i) => i.startsWith('.') && inCli(relative(SRC, join(f, '..', i)))).map((i) => `${relative(SRC, f)} -> ${i}`);
    });
  expect(offenders).toEqual([]);
});
