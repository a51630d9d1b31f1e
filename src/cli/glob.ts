/**
 * Globs for inputs, by tinyglobby (Node 20 has no fs.glob): `*`, `?`, `[abc]`, `{a,b}` braces
 * and `**` for any number of directories. Names starting with a dot are matched only by a
 * pattern that names the dot, as in a shell.
 */
import { isDynamicPattern, globSync } from 'tinyglobby';

export function hasGlobMagic(text: string): boolean {
  return isDynamicPattern(text);
}

export interface GlobHit {
  path: string;
  isDirectory: boolean;
}

/** Absolute paths that match `pattern`, sorted. Relative patterns resolve from `cwd`. */
export function expandGlob(pattern: string, cwd: string = process.cwd()): GlobHit[] {
  const found = globSync(pattern.replace(/\\/g, '/'), { cwd, absolute: true, onlyFiles: false, expandDirectories: false, followSymbolicLinks: true });
  // Directories come back with a trailing slash.
  const hits = found.map((p) => (p.endsWith('/') && p.length > 1 ? { path: p.slice(0, -1), isDirectory: true } : { path: p, isDirectory: false }));
  return hits.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
