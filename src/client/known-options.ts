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
    // The value is not shown: a misspelt `apikey` would otherwise put the key in the message.
    throw new ValidationError(name, `(a ${typeof value}, not shown)`, `a known option of ${what}${near ? ` (did you mean "${near}"?)` : ''}: ${known.join(', ')}`);
  }
}

/** The known name closest to `name` (case ignored), if within a third of its length (at least 2 edits). */
export function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions), one row at a time. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
