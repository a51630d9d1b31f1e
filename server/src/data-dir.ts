/**
 * The data dir, checked before anything is put in it: serve says in one line why it cannot
 * start (a read-only file system, a parent it may not write to, a file in the way) instead of a
 * stack trace, a bare `ENOENT mkdir` or SQLite's `unable to open database file`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/** Why the data dir cannot be used, in one line (serve prints it as it is). */
export class DataDirError extends Error {
  override name = 'DataDirError';
}

type Errno = NodeJS.ErrnoException;

/** Creates `dir` (mode 0700) when missing and proves it writable; throws DataDirError. */
export async function ensureWritableDir(dir: string): Promise<void> {
  const abs = resolve(dir);
  let isDir: boolean;
  try {
    isDir = (await stat(abs)).isDirectory();
  } catch (err) {
    const code = (err as Errno).code;
    if (code === 'ENOENT') return create(abs);
    if (code === 'ENOTDIR') throw new DataDirError(`cannot create ${abs}: ${await nearestExisting(abs)} is not a directory`);
    if (code === 'EACCES') throw new DataDirError(`cannot reach the data dir ${abs}: permission denied`);
    throw new DataDirError(`cannot use the data dir ${abs}: ${describe(err)}`);
  }
  if (!isDir) throw new DataDirError(`the data dir ${abs} is not a directory`);
  await proveWritable(abs);
}

async function create(abs: string): Promise<void> {
  try {
    await mkdir(abs, { recursive: true, mode: 0o700 });
  } catch (recursiveErr) {
    const parent = await nearestExisting(dirname(abs));
    // A recursive mkdir reports ENOENT for a read-only or forbidden parent: the first missing
    // component, made alone, tells the real reason.
    let err: unknown = recursiveErr;
    const first = join(parent, abs.slice(parent.length).split('/').find((c) => c !== '') ?? '');
    if (first !== parent) {
      try {
        await mkdir(first, { mode: 0o700 });
        return create(abs); // made meanwhile: try again from there
      } catch (e) {
        err = (e as Errno).code === 'EEXIST' ? recursiveErr : e;
      }
    }
    switch ((err as Errno).code) {
      case 'EROFS':
        throw new DataDirError(`cannot create ${abs}: read-only parent ${parent} (read-only file system)`);
      case 'EACCES':
      case 'EPERM':
        throw new DataDirError(`cannot create ${abs}: permission denied in parent ${parent}`);
      case 'ENOTDIR':
        throw new DataDirError(`cannot create ${abs}: ${parent} is not a directory`);
      case 'ENOSPC':
        throw new DataDirError(`cannot create ${abs}: disk full (ENOSPC) in parent ${parent}`);
      default:
        throw new DataDirError(`cannot create ${abs}: ${describe(err)}`);
    }
  }
  await proveWritable(abs);
}

/** Creates and removes a file in `abs`: what mode bits, mounts and ACLs allow, found by trying. */
async function proveWritable(abs: string): Promise<void> {
  const probe = join(abs, `.write-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fh = await open(probe, 'wx', 0o600);
    await fh.close();
  } catch (err) {
    throw writeError(`the data dir ${abs}`, err);
  }
  await rm(probe, { force: true });
}

/** "cannot write to WHAT: why", for an error of a write in the data dir. */
export function writeError(what: string, err: unknown): DataDirError {
  return new DataDirError(`cannot write to ${what}: ${describe(err)}`);
}

/** An errno error in words, without the syscall and path Node puts around them. */
export function describe(err: unknown): string {
  const e = err as Errno;
  switch (e?.code) {
    case 'EROFS':
      return 'read-only file system';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'disk full (ENOSPC)';
    case 'ENOTDIR':
      return 'a path component is not a directory';
    case 'ENOENT':
      return 'no such file or directory';
    default:
      return e?.code ? `${e.code} (${e.message})` : String((e as Error)?.message ?? err);
  }
}

/** The closest ancestor of `p` (or `p` itself) that exists. */
async function nearestExisting(p: string): Promise<string> {
  let cur = p;
  for (;;) {
    try {
      await stat(cur);
      return cur;
    } catch {
      const up = dirname(cur);
      if (up === cur) return cur;
      cur = up;
    }
  }
}
