/**
 * One `solve` per `--out` folder: two runs sharing a journal would each see the other's inputs as
 * not started and upload them twice. The lock is a file created exclusively (`O_EXCL`) in the
 * journal's folder, holding the owner's pid and host; a lock whose process is gone (a run killed
 * with SIGKILL) is stale and taken over. A library such as proper-lockfile decides staleness by
 * an mtime it must keep refreshing on a timer; on one machine the pid says it exactly, with
 * nothing running in the background, so these 60 lines are the smaller dependency.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { JOURNAL_DIR } from './journal.js';
import { UsageError } from './args.js';

interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
}

export interface OutLock {
  readonly path: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | null {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    return typeof owner.pid === 'number' && typeof owner.host === 'string' ? (owner as LockOwner) : null;
  } catch {
    return null;
  }
}

/** Takes the lock of `outDir`, or throws a UsageError (exit 2) naming the run that holds it. */
export function lockOutDir(outDir: string): OutLock {
  const dir = join(outDir, JOURNAL_DIR);
  const path = join(dir, 'lock');
  mkdirSync(dir, { recursive: true });
  const me: LockOwner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readOwner(path);
      // Stale: its process is gone (or the file is torn, written by a run killed mid-write).
      if (owner === null || (owner.host === me.host && !alive(owner.pid))) {
        try {
          unlinkSync(path);
        } catch {
          // another run took it over first; the next attempt finds its lock
        }
        continue;
      }
      throw new UsageError(
        `Another astrometry-net solve (pid ${owner.pid} on ${owner.host}, since ${owner.startedAt}) is using the output folder ${outDir}.`,
        'Wait for it to finish, or give another --out. (If that run is gone, delete ' + path + '.)',
      );
    }
    writeSync(fd, `${JSON.stringify(me)}\n`);
    closeSync(fd);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      process.off('exit', release);
      if (readOwner(path)?.pid === me.pid) unlinkSync(path);
    };
    process.on('exit', release);
    return { path, release };
  }
  throw new UsageError(`Could not lock the output folder ${outDir}: another run keeps taking it.`);
}
