/**
 * Unknown option names are refused, not ignored: `timeoutMS` for `timeoutMs` would otherwise
 * leave a batch running with the default deadline and no word said. The error names the
 * nearest known option when one is close.
 */
import { ValidationError } from '../errors.js';

/** Throws a ValidationError for the first key of `options` that is not in `known`. */
export function refuseUnknownOptions(options: object, known: readonly string[], what: string): void {
  for (const [name, value] of Object.entries(options)) {
    if (known.includes(name)) continue;
    const near = nearest(name, known);
    throw new ValidationError(name, value, `a known option of ${what}${near ? ` (did you mean "${near}"?)` : ''}: ${known.join(', ')}`);
  }
}

/** The known name closest to `name` (case ignored), if within a third of its length. */
export function nearest(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of known) {
    const d = distance(lower, candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance: the edits that turn `a` into `b`. */
function distance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (rows[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    const above = rows[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost);
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}
