/**
 * Looking at the process table from tests (Linux /proc): which processes are alive, and which
 * were started for a given data directory (solve-field and everything it runs name a path in it).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
  cmdline: string;
}

function readProc(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return { pid, state: rest[0] ?? '?', ppid: Number(rest[1]), pgid: Number(rest[2]), cmdline };
  } catch {
    return undefined;
  }
}

/** Live processes (zombies waiting for a reaper count as gone). */
export function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p && p.state !== 'Z') out.push(p);
  }
  return out;
}

function cwdOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return '';
  }
}

/**
 * Processes working in `dir` or naming it on their command line (astrometry-engine runs as
 * `astrometry-engine job.axy` in the job directory), except the listed pids (the server).
 */
export function processesUnder(dir: string, except: readonly number[] = []): Proc[] {
  return processes().filter((p) => (p.cmdline.includes(dir) || cwdOf(p.pid).startsWith(dir)) && !except.includes(p.pid) && p.pid !== process.pid);
}

export function alive(pid: number): boolean {
  const p = readProc(pid);
  return p !== undefined && p.state !== 'Z';
}
