/**
 * A small glob matcher (Node 20 has no fs.glob): `*` and `?` within one path segment, `[abc]`
 * classes, and `**` for any number of directories. Names starting with a dot are matched only
 * by a pattern segment that starts with a dot, as in a shell.
 */
import { readdirSync, statSync, type Dirent } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

export function hasGlobMagic(text: string): boolean {
  return /[*?[]/.test(text);
}

/** A regular expression for one path segment (no `/`). */
export function segmentRegExp(segment: string): RegExp {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/** Whether `path` (relative, `/`-separated) matches `pattern`. */
export function globMatch(pattern: string, path: string): boolean {
  const pat = pattern.split('/').filter((s) => s !== '');
  const parts = path.split('/').filter((s) => s !== '');
  const match = (pi: number, si: number): boolean => {
    if (pi === pat.length) return si === parts.length;
    const seg = pat[pi] as string;
    if (seg === '**') {
      for (let k = si; k <= parts.length; k++) {
        if (k > si && (parts[k - 1] as string).startsWith('.')) break;
        if (match(pi + 1, k)) return true;
      }
      return false;
    }
    if (si >= parts.length) return false;
    const name = parts[si] as string;
    if (name.startsWith('.') && !seg.startsWith('.')) return false;
    return segmentRegExp(seg).test(name) && match(pi + 1, si + 1);
  };
  return match(0, 0);
}

export interface GlobHit {
  path: string;
  isDirectory: boolean;
}

/** Paths under the pattern's literal prefix that match it, sorted. Relative patterns resolve from `cwd`. */
export function expandGlob(pattern: string, cwd: string = process.cwd()): GlobHit[] {
  const normalised = pattern.replace(/\\/g, '/');
  const absolute = isAbsolute(normalised);
  const segments = normalised.split('/').filter((s) => s !== '' && s !== '.');
  let base = absolute ? '/' : cwd;
  let i = 0;
  while (i < segments.length - 1 && !hasGlobMagic(segments[i] as string)) base = join(base, segments[i++] as string);
  const rest = segments.slice(i);
  const hits = new Map<string, GlobHit>();

  const walk = (dir: string, si: number): void => {
    const seg = rest[si];
    if (seg === undefined) return;
    const last = si === rest.length - 1;
    if (seg === '**') {
      if (last) {
        // `dir/**`: everything below.
        for (const entry of list(dir)) {
          if (entry.name.startsWith('.')) continue;
          const p = join(dir, entry.name);
          const isDirectory = isDir(entry, p);
          hits.set(p, { path: p, isDirectory });
          if (isDirectory) walk(p, si);
        }
        return;
      }
      walk(dir, si + 1);
      for (const entry of list(dir)) {
        if (entry.name.startsWith('.')) continue;
        const p = join(dir, entry.name);
        if (isDir(entry, p)) walk(p, si);
      }
      return;
    }
    if (!hasGlobMagic(seg)) {
      const p = join(dir, seg);
      const st = statOrNull(p);
      if (!st) return;
      if (last) hits.set(p, { path: p, isDirectory: st.isDirectory() });
      else if (st.isDirectory()) walk(p, si + 1);
      return;
    }
    const re = segmentRegExp(seg);
    for (const entry of list(dir)) {
      if (entry.name.startsWith('.') && !seg.startsWith('.')) continue;
      if (!re.test(entry.name)) continue;
      const p = join(dir, entry.name);
      const isDirectory = isDir(entry, p);
      if (last) hits.set(p, { path: p, isDirectory });
      else if (isDirectory) walk(p, si + 1);
    }
  };
  walk(resolve(base), 0);
  return [...hits.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function list(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

function statOrNull(p: string) {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}

function isDir(entry: Dirent, p: string): boolean {
  if (entry.isDirectory()) return true;
  if (entry.isSymbolicLink()) return statOrNull(p)?.isDirectory() ?? false;
  return false;
}
