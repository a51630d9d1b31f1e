/**
 * Running the astrometry.net command-line tools: argument arrays only (never a shell), each
 * child in its own process group so a kill also reaches what it started (solve-field runs
 * astrometry-engine, image2xy, plotting tools...).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface RunOptions {
  cwd: string;
  /** Wall-clock limit; the process group gets SIGTERM, then SIGKILL after a grace period. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Where stdout goes: captured into the result, or written (truncating) to a file. */
  stdout: 'capture' | { file: string; append?: boolean };
  /** Where stderr goes: captured, or to the same file as stdout (like `2>&1`). */
  stderr: 'capture' | 'with-stdout';
  /** Told the group's pid once started and again once it is gone (the server records it). */
  processes?: { started(pid: number): void; ended(pid: number): void };
}

export interface RunResult {
  /** Exit code, or null when the process died from a signal or never started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why we killed it, if we did. */
  killed?: 'timeout' | 'abort';
  /** Set when the program could not be started (e.g. ENOENT). */
  spawnError?: Error;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

const KILL_GRACE_MS = 2000;
const CAPTURE_LIMIT = 1 << 20;

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig); // the group we created with `detached: true`
  } catch {
    // already gone
  }
}

/** Run one program to completion. Never rejects: failures are described in the result. */
export function runProgram(command: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const started = Date.now();
  return new Promise<RunResult>((resolve) => {
    let outFd: number | undefined;
    const result: RunResult = { code: null, signal: null, stdout: '', stderr: '', elapsedMs: 0 };
    const finish = () => {
      if (outFd !== undefined) {
        try {
          closeSync(outFd);
        } catch {
          // ignore
        }
        outFd = undefined;
      }
      result.elapsedMs = Date.now() - started;
      resolve(result);
    };

    if (opts.signal?.aborted) {
      result.killed = 'abort';
      finish();
      return;
    }

    let stdoutSpec: 'pipe' | number = 'pipe';
    if (opts.stdout !== 'capture') {
      try {
        outFd = openSync(opts.stdout.file, opts.stdout.append ? 'a' : 'w');
      } catch (err) {
        result.spawnError = err as Error;
        finish();
        return;
      }
      stdoutSpec = outFd;
    }
    const stderrSpec: 'pipe' | number = opts.stderr === 'with-stdout' && outFd !== undefined ? outFd : 'pipe';

    const child = spawn(command, [...args], {
      cwd: opts.cwd,
      stdio: ['ignore', stdoutSpec, stderrSpec],
      detached: true, // own process group: kill(-pid) reaches the whole tree
      windowsHide: true,
    });

    if (child.pid !== undefined) opts.processes?.started(child.pid);
    let graceTimer: NodeJS.Timeout | undefined;
    const stop = (why: 'timeout' | 'abort') => {
      if (result.killed || child.exitCode !== null || child.signalCode !== null) return;
      result.killed = why;
      killGroup(child.pid, 'SIGTERM');
      graceTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
      graceTimer.unref();
    };
    const timer = setTimeout(() => stop('timeout'), Math.max(0, opts.timeoutMs));
    const onAbort = () => stop('abort');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const collect = (stream: NodeJS.ReadableStream | null, key: 'stdout' | 'stderr') => {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        if (result[key].length < CAPTURE_LIMIT) result[key] += chunk;
      });
    };
    collect(child.stdout, 'stdout');
    collect(child.stderr, 'stderr');

    let done = false;
    const cleanup = () => {
      if (done) return false;
      done = true;
      clearTimeout(timer);
      if (graceTimer) clearTimeout(graceTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      return true;
    };
    child.on('error', (err) => {
      if (!cleanup()) return;
      result.spawnError = err;
      finish();
    });
    child.on('close', (code, sig) => {
      if (!cleanup()) return;
      result.code = code;
      result.signal = sig;
      // Anything the group left behind (it should be nothing) goes too.
      if (result.killed) killGroup(child.pid, 'SIGKILL');
      if (child.pid !== undefined) opts.processes?.ended(child.pid);
      finish();
    });
  });
}

/** Describe how a run ended, for logs. */
export function describeRun(name: string, r: RunResult): string {
  if (r.spawnError) return `${name}: could not run: ${r.spawnError.message}`;
  const how = r.killed
    ? `killed (${r.killed === 'timeout' ? 'time limit reached' : 'aborted'})`
    : r.signal
      ? `died from ${r.signal}`
      : `exited with code ${String(r.code)}`;
  return `${name}: ${how} after ${(r.elapsedMs / 1000).toFixed(2)} s`;
}
