#!/usr/bin/env node
// Regenerates the statechart diagram in README.md from the machine itself (run after `npm run build`).
import { readFile, writeFile } from 'node:fs/promises';
import { toMermaid } from '../dist/src/inspect/diagram.js';
import { solveMachine } from '../dist/machines/solve.machine.js';

const start = '<!-- statechart:start -->';
const end = '<!-- statechart:end -->';
const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
const i = readme.indexOf(start);
const j = readme.indexOf(end);
if (i < 0 || j < i) throw new Error('README.md has no statechart markers');
const block = `${start}\n\`\`\`mermaid\n${toMermaid(solveMachine)}\n\`\`\`\n${end}`;
await writeFile(new URL('../README.md', import.meta.url), readme.slice(0, i) + block + readme.slice(j + end.length));
console.log('README.md diagram updated');
