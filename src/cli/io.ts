/** What a command talks to: the process by default, replaceable in tests. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  cwd: string;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() };
}

/** Exit codes of every command. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  auth: 3,
  interrupted: 130,
} as const;

export const COMMON_FLAGS = [
  { name: 'help', type: 'boolean', short: 'h' },
  { name: 'quiet', type: 'boolean', short: 'q' },
  { name: 'verbose', type: 'boolean', short: 'v' },
  { name: 'json', type: 'boolean' },
] as const;
