/**
 * What `solve` was given, expanded to one entry per image: files, directories (their
 * FITS/JPEG/PNG files), globs, URLs and source lists. Each entry knows its absolute identity
 * (for the journal) and a unique output stem.
 */
import { statSync } from 'node:fs';
import { basename, relative, resolve } from 'node:path';
import { UsageError } from './args.js';
import { expandGlob, hasGlobMagic } from './glob.js';
import { readSourceList, SourceListError } from './source-list.js';

export type CliInput =
  | { kind: 'file'; label: string; id: string; stem: string; path: string }
  | { kind: 'url'; label: string; id: string; stem: string; url: string }
  | { kind: 'sourceList'; label: string; id: string; stem: string; path: string; x: number[]; y: number[] };

const IMAGE_EXTENSIONS = /\.(fits|fit|fts|fits\.gz|fit\.gz|fts\.gz|fz|jpg|jpeg|png)$/i;

export function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.test(name);
}

export function isUrl(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

/** `orion.fits.gz` → `orion`, `a/b/c.png` → `c`. */
export function stemOf(name: string): string {
  const base = basename(name);
  const stripped = base.replace(/\.(fits|fit|fts)\.(gz|bz2)$/i, '').replace(/\.[^.]+$/, '');
  return stripped || base || 'input';
}

function urlStem(url: string): string {
  try {
    const last = new URL(url).pathname.split('/').filter(Boolean).pop();
    return last ? stemOf(decodeURIComponent(last)) : new URL(url).hostname;
  } catch {
    return 'url';
  }
}

function label(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith('..') ? rel : path;
}

function statOrNull(path: string) {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

export function resolveInputs(args: readonly string[], sourceLists: readonly string[], cwd: string = process.cwd()): CliInput[] {
  type Unnamed = CliInput extends infer T ? (T extends CliInput ? Omit<T, 'stem'> : never) : never;
  const found: Unnamed[] = [];
  const seen = new Set<string>();
  const addFile = (path: string, shown: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    found.push({ kind: 'file', label: shown, id: path, path });
  };
  const addDirectory = (dir: string) => {
    const hits = expandGlob('*', dir).filter((h) => !h.isDirectory && isImageName(h.path));
    if (hits.length === 0) throw new UsageError(`The directory ${label(dir, cwd)} has no FITS, JPEG or PNG files.`);
    for (const h of hits) addFile(h.path, label(h.path, cwd));
  };

  for (const arg of args) {
    if (isUrl(arg)) {
      if (!seen.has(arg)) {
        seen.add(arg);
        found.push({ kind: 'url', label: arg, id: arg, url: arg });
      }
      continue;
    }
    const path = resolve(cwd, arg);
    const st = statOrNull(path);
    if (st?.isDirectory()) {
      addDirectory(path);
      continue;
    }
    if (st?.isFile()) {
      addFile(path, arg);
      continue;
    }
    if (hasGlobMagic(arg)) {
      const hits = expandGlob(arg, cwd);
      if (hits.length === 0) throw new UsageError(`No file matches ${arg}.`, 'Quote the pattern so the shell passes it on, and check the path.');
      for (const h of hits) {
        if (h.isDirectory) addDirectory(h.path);
        else addFile(h.path, label(h.path, cwd));
      }
      continue;
    }
    throw new UsageError(`No such file or directory: ${arg}.`);
  }

  for (const file of sourceLists) {
    const path = resolve(cwd, file);
    if (!statOrNull(path)?.isFile()) throw new UsageError(`No such source list file: ${file}.`);
    let xy;
    try {
      xy = readSourceList(path);
    } catch (error) {
      if (error instanceof SourceListError) throw new UsageError(`Bad --source-list: ${error.message}`);
      throw error;
    }
    const id = `sourcelist:${path}`;
    if (seen.has(id)) continue;
    seen.add(id);
    found.push({ kind: 'sourceList', label: file, id, path, x: xy.x, y: xy.y });
  }

  // Unique stems, in input order: the second `x.png` becomes `x-2`.
  const taken = new Set<string>();
  return found.map((f) => {
    const base = f.kind === 'url' ? urlStem(f.url) : stemOf(f.path);
    let stem = base;
    for (let n = 2; taken.has(stem); n++) stem = `${base}-${n}`;
    taken.add(stem);
    return { ...f, stem } as CliInput;
  });
}
