/**
 * `indexes list`: the index files serve would use (each with its scale, the field widths it
 * serves and its size), then what the data site offers per series and scale, marking what is
 * installed already.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { formatRanges, scanIndexDirs, servedWidths, systemIndexDirs } from '../solvers/index-coverage.js';
import { catalogueFile, DATA_SITE, SERIES, SERIES_IDS, tileCount } from './catalogue.js';
import { formatBytes } from './progress.js';

export async function listIndexes(dir: string, systemIndexes: boolean): Promise<string> {
  const dirs = [...new Set([...(systemIndexes ? await systemIndexDirs() : []), dir].map((d) => path.resolve(d)))];
  const cov = await scanIndexDirs(dirs);
  const lines: string[] = [`installed, in ${dirs.join(', ')}:`];
  const have = new Set<string>();
  for (const f of cov.files) {
    const size = await stat(f.path).then((s) => s.size, () => 0);
    const scale = f.indexId % 100;
    have.add(`${f.indexId}/${f.healpix}`);
    lines.push(
      `  ${f.path}\tindex ${f.indexId}${f.healpix >= 0 ? ` tile ${f.healpix}` : ''}\tscale ${String(scale).padStart(2, '0')}\t` +
        `fields ${formatRanges([servedWidths(f.quadArcmin)])}\t${formatBytes(size)}`,
    );
  }
  if (cov.files.length === 0) lines.push('  none');
  else lines.push(`  fields served: ${formatRanges(cov.fieldArcmin)}`);

  lines.push('', `on the data site (${DATA_SITE}; sizes approximate):`);
  for (const id of SERIES_IDS) {
    const s = SERIES[id];
    lines.push(`  series ${id} (${s.catalogue}):`);
    for (const scale of s.scales) {
      const tiles = tileCount(id, scale);
      const f = catalogueFile(id, scale, tiles === 1 ? -1 : 0);
      const installed = tiles === 1 ? (have.has(`${f.indexId}/-1`) ? 1 : 0) : [...Array(tiles).keys()].filter((t) => have.has(`${f.indexId}/${t}`)).length;
      const name = tiles === 1 ? f.name : `index-${f.indexId}-00…${tiles - 1}.fits`;
      const size = tiles === 1 ? formatBytes(f.approxBytes) : `${tiles} tiles × ${formatBytes(f.approxBytes)} = ${formatBytes(f.approxBytes * tiles)}`;
      const mark = installed === 0 ? '' : installed === tiles ? '\tinstalled' : `\t${installed} of ${tiles} tiles installed`;
      lines.push(`    ${name.padEnd(24)}\tfields ${formatRanges([f.fieldArcmin])}\t${size}${mark}`);
    }
  }
  return lines.join('\n') + '\n';
}
