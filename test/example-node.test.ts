/**
 * The README's Node script, run as a user runs it: it solves a file, a URL and a source list
 * against the in-repo server with the real solver, in the minimal number of requests.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const truth = JSON.parse(readFileSync(new URL('../assets/sample.truth.json', import.meta.url), 'utf8')) as { ra: number; dec: number };

test('examples/node/solve.mjs solves a file, a URL and a source list, each in the fewest requests', async () => {
  const script = new URL('../examples/node/solve.mjs', import.meta.url).pathname;
  const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 120_000 });
  const lines = stdout.trim().split('\n');
  expect(lines.map((l) => l.slice(0, 12).trim())).toEqual(['file', 'url', 'source list']);
  for (const line of lines) {
    const [, ra, dec] = /RA (\S+)\s+Dec (\S+)/.exec(line) ?? [];
    // As nova, a source list is calibrated as a ceil(max x) x ceil(max y) image: the centre of the
    // stars' extent, a few dozen pixels from the image centre here.
    const within = line.startsWith('source list') ? 0.05 : 0.01;
    expect(Math.abs(Number(ra) - truth.ra) * Math.cos((truth.dec * Math.PI) / 180)).toBeLessThan(within);
    expect(Math.abs(Number(dec) - truth.dec)).toBeLessThan(within);
    // One login for the whole script, one upload each, polls, then the calibration: nothing else.
    const requests = line.slice(line.indexOf('requests: ') + 10).split(' ');
    const upload = line.startsWith('url') ? 'url_upload' : 'upload';
    const expected = new RegExp(`^${line.startsWith('file') ? 'login ' : ''}${upload}( submission)+( job)+ calibration$`);
    expect(requests.join(' ')).toMatch(expected);
  }
});
