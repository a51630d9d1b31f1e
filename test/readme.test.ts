import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { solveMachine } from '../machines/solve.machine.js';
import { toMermaid } from '../src/inspect/diagram.js';
import { UPLOAD_OPTION_NAMES } from '../src/protocol/upload-options.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test("the README's statechart is the machine's own (regenerate with npm run docs:diagram)", () => {
  const block = /<!-- statechart:start -->\n```mermaid\n([\s\S]*?)\n```\n<!-- statechart:end -->/.exec(readme);
  expect(block?.[1]).toBe(toMermaid(solveMachine));
});

test('the README documents every upload option', () => {
  for (const name of UPLOAD_OPTION_NAMES) expect(readme).toContain(`\`${name}\``);
});

test('the README shows the two commands CI runs', () => {
  const ci = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
  expect(ci).toContain('npm run sample');
  expect(ci).toContain('npm test');
  expect(readme).toContain('npm run sample');
  expect(readme).toContain('npm test');
});
