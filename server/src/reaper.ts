/**
 * Solver processes outlive a node killed with SIGKILL (they run in their own process group).
 * Every node records the groups it starts in the store; at start and on every heartbeat, a node
 * kills the recorded groups of nodes on the same host that are dead. A pid is only killed when
 * its /proc start time still matches the recorded one, so a recycled pid is never hit.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerStore } from './store/server-store.js';

/** Field 22 of /proc/PID/stat (start time in clock ticks); '' where /proc is unavailable. */
export function processStartTicks(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? '';
  } catch {
    return '';
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Which of `pgids` still have a running member (zombies do not count: they run nothing). One
 * pass over /proc for all of them; an empty set where /proc is unavailable.
 */
function runningGroups(pgids: ReadonlySet<number>): Set<number> {
  const running = new Set<number>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return running;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pgid = Number(fields[2]);
      if (fields[0] !== 'Z' && pgids.has(pgid)) running.add(pgid);
    } catch {
      // exited while we looked
    }
  }
  return running;
}

/**
 * SIGKILL is delivered asynchronously: a member busy on another core (or in the middle of
 * reading an index file) may run on for a moment. Waits until every member of the groups is
 * gone, so that a job handed back is never solved while the old solver still writes its files.
 * Returns the groups still running when the wait ended.
 */
export async function awaitGroupsGone(pgids: readonly number[], timeoutMs = 10_000): Promise<number[]> {
  const end = Date.now() + timeoutMs;
  let left = new Set(pgids);
  while (left.size > 0) {
    left = runningGroups(left);
    if (left.size === 0 || Date.now() >= end) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return [...left];
}

/**
 * Kills what dead nodes on this host left running, waits until it is gone, and forgets those
 * nodes. `self` is never treated as dead. Returns the pids killed.
 */
export async function reapOrphans(store: ServerStore, host: string, self: string, log: (line: string) => void): Promise<number[]> {
  const nodes = await store.nodesOnHost(host);
  const live = new Set<string>([self]);
  for (const n of nodes) if (n.id === self || isAlive(n.pid)) live.add(n.id);
  const killed: number[] = [];
  const gone: number[] = [];
  for (const p of await store.processesOnHost(host)) {
    if (live.has(p.node)) continue;
    const ticks = processStartTicks(p.pid);
    if (ticks !== '' && ticks === p.startTicks) {
      killGroup(p.pid);
      killed.push(p.pid);
      log(`reaped solver process group ${p.pid} left by node ${p.node}${p.jobId === null ? '' : ` (job ${p.jobId})`}`);
    } else {
      gone.push(p.pid);
    }
  }
  // Forgotten only once gone: a group still running stays on record, to be killed again by the
  // next heartbeat, rather than be taken for gone by a pass that finds nothing left to kill.
  const stuck = await awaitGroupsGone(killed);
  for (const g of stuck) log(`solver process group ${g} is still running 10 s after SIGKILL`);
  for (const pid of [...gone, ...killed.filter((g) => !stuck.includes(g))]) await store.forgetProcess(host, pid);
  for (const n of nodes) {
    if (live.has(n.id)) continue;
    await store.forgetNode(n.id);
    // Its partial uploads (a node's scratch folder is named after it on a shared files root).
    if (store.engine === 'postgres') await rm(join(store.dataDir, 'tmp', n.id), { recursive: true, force: true });
  }
  return killed;
}
