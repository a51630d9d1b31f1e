/**
 * A full disk, told as such: an ENOSPC from our own writes, SQLite's "database or disk is full",
 * or a solver whose log says "No space left on device" (its own writes failed; the message may
 * even be all that reached the log) all become one reason, "disk full (ENOSPC)", in the job
 * log, serve's log and the job's failure_reason, instead of a misleading guess.
 */
import { open, statfs } from 'node:fs/promises';

/** The failure_reason of a job stopped by a full disk (no path: it is public). */
export const DISK_FULL_REASON = 'disk full (ENOSPC): the server ran out of disk space while solving; free space in its data dir and submit again';

export function isDiskFull(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.code === 'ENOSPC' || e.code === 'EDQUOT' || e.code === 'SQLITE_FULL') return true;
  return typeof e.message === 'string' && DISK_FULL_TEXT.test(e.message);
}

/** What programs print when a write fails for lack of space (strerror, Python's OSError, SQLite). */
const DISK_FULL_TEXT = /No space left on device|\bENOSPC\b|\[Errno 28\]|errno=28\b|database or disk is full|Disk quota exceeded/;

/** Whether the last `tailBytes` of a log file tell of a full disk. */
export async function logSaysDiskFull(path: string, tailBytes = 256 * 1024): Promise<boolean> {
  try {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      const len = Math.min(size, tailBytes);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      return DISK_FULL_TEXT.test(buf.toString('latin1'));
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

/** Bytes an unprivileged writer may still put on the filesystem of `dir` (undefined when unknown). */
export async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}
