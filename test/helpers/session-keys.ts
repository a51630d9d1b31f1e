/**
 * The server stores only sha256 of session keys, so a test cannot read the keys back. It can
 * still prove none leaked: no 32-character window of the text hashes to a stored session.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** sha256 of every session the server at `dataDir` (embedded SQLite) holds. */
export function sessionKeyHashes(dataDir: string): Set<string> {
  const db = new Database(join(dataDir, 'astrometry-net.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return new Set((db.prepare('SELECT key_hash FROM sessions').all() as { key_hash: string }[]).map((r) => r.key_hash));
  } finally {
    db.close();
  }
}

/** The substrings of `texts` that are live session keys of that server (expected: none). */
export function leakedSessionKeys(hashes: ReadonlySet<string>, texts: readonly string[]): string[] {
  const leaked: string[] = [];
  for (const text of texts) {
    for (const run of text.match(/[a-z0-9]{32,}/g) ?? []) {
      for (let i = 0; i + 32 <= run.length; i++) {
        const candidate = run.slice(i, i + 32);
        if (hashes.has(createHash('sha256').update(candidate).digest('hex'))) leaked.push(candidate);
      }
    }
  }
  return leaked;
}
