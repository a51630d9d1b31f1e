#!/usr/bin/env node
/**
 * `npm run docs`: the API reference with TypeDoc, from typedoc.json (entry points: the Node and
 * browser entries, the React bindings, the machines, and the fits, wcs, extract and inspect
 * subpaths) into docs/api/.
 *
 * The same as `npx typedoc`, except that each entry point is named after the import path a user
 * writes (`astrometry-net-client/fits`) instead of its folder in this repository (`src/fits`).
 * Warnings are printed and leave the exit code alone; errors fail the script.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application, Converter } from 'typedoc';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
process.chdir(root);

/** Module name TypeDoc derives from the entry point's path → the package import that reaches it. */
const NAMES = {
  src: 'astrometry-net-client',
  'src/browser': 'astrometry-net-client (browser)',
  'src/react': 'astrometry-net-client/react',
  'src/fits': 'astrometry-net-client/fits',
  'src/wcs': 'astrometry-net-client/wcs',
  'src/extract': 'astrometry-net-client/extract',
  'src/inspect': 'astrometry-net-client/inspect',
  machines: 'astrometry-net-client/machines',
};

const app = await Application.bootstrapWithPlugins({ options: resolve(root, 'typedoc.json') });
app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
  for (const module of context.project.children ?? []) {
    if (Object.hasOwn(NAMES, module.name)) module.name = NAMES[module.name];
  }
});

const project = await app.convert();
if (!project) {
  console.error('docs: TypeDoc could not convert the project (see the errors above).');
  process.exit(1);
}
app.validate(project);
if (app.logger.hasErrors()) process.exit(1);
await app.generateOutputs(project);
if (app.logger.hasErrors()) process.exit(1);
const out = app.options.getValue('out');
console.log(`docs: ${resolve(root, out)}/index.html${app.logger.hasWarnings() ? ` (${app.logger.warningCount} warnings, listed above)` : ''}`);
