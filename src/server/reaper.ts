/**
 * Solver processes outlive a node killed with SIGKILL (they run in their own process group).
 * Every node records the groups it starts in the store; at start and on every heartbeat, a node
 * kills the recorded groups of nodes on the same host that are dead. A pid is only killed when
 * its /proc start time still matches the recorded one, so a recycled pid is never hit.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerStore } from './store.js';

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
 * Kills what dead nodes on this host left running and forgets those nodes. `self` is never
 * treated as dead. Returns the pids killed.
 */
export async function reapOrphans(store: ServerStore, host: string, self: string, log: (line: string) => void): Promise<number[]> {
  const nodes = await store.nodesOnHost(host);
  const live = new Set<string>([self]);
  for (const n of nodes) if (n.id === self || isAlive(n.pid)) live.add(n.id);
  const killed: number[] = [];
  for (const p of await store.processesOnHost(host)) {
    if (live.has(p.node)) continue;
    const ticks = processStartTicks(p.pid);
    if (ticks !== '' && ticks === p.startTicks) {
      killGroup(p.pid);
      killed.push(p.pid);
      log(`reaped solver process group ${p.pid} left by node ${p.node}${p.jobId === null ? '' : ` (job ${p.jobId})`}`);
    }
    await store.forgetProcess(host, p.pid);
  }
  for (const n of nodes) {
    if (live.has(n.id)) continue;
    await store.forgetNode(n.id);
    // Its partial uploads (a node's scratch folder is named after it on a shared files root).
    if (store.engine === 'postgres') await rm(join(store.dataDir, 'tmp', n.id), { recursive: true, force: true });
  }
  return killed;
}
