/**
 * `astrometry-net serve`: run the nova-compatible server until SIGINT/SIGTERM.
 * stdout carries exactly the API base URL once the server accepts connections, so scripts can
 * capture it; everything else (a generated key, errors, the log) goes to stderr.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { startServer, type ServerOptions } from './index.js';
import { SOLVER_NAMES, type SolverName } from './solvers/registry.js';
import { describeCoverage, formatRanges, scanIndexDirs, systemIndexDirs } from './solvers/index-coverage.js';
import { defaultIndexDir } from './indexes/default-dir.js';

export { runIndexes, INDEXES_HELP } from './indexes/cli.js';

export const SERVE_USAGE = `usage: astrometry-net serve [--host H] [--port N] [--api-keys-file FILE] [--api-key KEY]... [--solver ${SOLVER_NAMES.join('|')}]
                          [--data-dir DIR] [--database URL] [--max-upload-mb N] [--max-pixels N]
                          [--max-source-rows N] [--concurrency N]
                          [--cors-origin O]... [--allow-private-urls] [--lease-seconds N]
                          [--long-poll-max SECONDS] [--index-dir DIR]... [--no-system-indexes]
       astrometry-net serve --list-indexes [--index-dir DIR]... [--no-system-indexes]`;

/** \`serve --help\`: every flag with its default. */
export const SERVE_HELP = `${SERVE_USAGE}

A nova-compatible (nova.astrometry.net) API server on the real solver. Prints the API URL on stdout.

  --host H              address to listen on (default 127.0.0.1)
  --port N              port; 0 picks a free one (default 8080)
  --api-keys-file FILE  accepted API keys, one per line, # comments skipped (default:
                        ASTROMETRY_SERVE_API_KEYS, keys separated by commas or spaces; without
                        either, one is generated and printed on stderr)
  --api-key KEY         an accepted API key; repeat for several (default: none). ps shows it to
                        every user of this machine: prefer --api-keys-file
  --solver NAME         ${SOLVER_NAMES.join(' or ')} (default solve-field)
  --data-dir DIR        where uploads, results and the embedded SQLite database live (default: a
                        temporary folder that is deleted on exit, so nothing survives a restart)
  --database URL        postgres://user:pass@host/db: keep state in PostgreSQL, so several serve
                        nodes sharing it and one --data-dir (a shared filesystem) act as one server
                        (default: ASTROMETRY_DATABASE_URL, else SQLite in --data-dir). A password
                        here is visible through ps: prefer ASTROMETRY_DATABASE_URL
  --max-upload-mb N     largest request body in MiB; larger gets HTTP 413 (default 100)
  --max-pixels N        largest image solved, in pixels (width × height, as its header declares
                        them); a larger one fails its job at once, without running the solver
                        (default 250000000)
  --max-source-rows N   most rows a source list (text, FITS table or x/y lists) may have; a longer
                        one fails its submission (default 1000000)
  --concurrency N       solves run at once on this node; more wait as jobs: [null]
                        (default: the number of cores)
  --cors-origin O       allow browser pages from this origin, e.g. http://localhost:3000; repeat
                        for several (default: none)
  --allow-private-urls  let url_upload fetch loopback, link-local and private addresses
                        (default: refused, so the server cannot be used to reach its own network)
  --lease-seconds N     how long a node's claim on a job outlives the node: after it, another
                        node re-runs the job (default 30)
  --long-poll-max S     longest hold of a long-polled status read (?wait=), in seconds; 0 turns
                        long polling off (default 600)
  --index-dir DIR       a directory of index files (index-*.fits) solve-field searches besides the
                        system's; repeat for several (default: serve's index folder, where
                        \`astrometry-net indexes install\` puts them, when it exists:
                        $XDG_DATA_HOME/astrometry-net/indexes, else ~/.local/share/astrometry-net/indexes)
  --no-system-indexes   search only the --index-dir directories, not the system's index
                        directories (add_path in /etc/astrometry.cfg) (default: searched)
  --list-indexes        print the index files solve-field would use and the field widths they
                        cover, then exit (default: serve)
  -h, --help            this help`;

export class UsageError extends Error {}

const FLAGS = [
  '--host',
  '--port',
  '--api-key',
  '--api-keys-file',
  '--solver',
  '--data-dir',
  '--database',
  '--max-upload-mb',
  '--max-pixels',
  '--max-source-rows',
  '--concurrency',
  '--cors-origin',
  '--allow-private-urls',
  '--lease-seconds',
  '--long-poll-max',
  '--index-dir',
] as const;
/** Flags that take no value. */
const SWITCHES: readonly string[] = ['--allow-private-urls'];
type Flag = (typeof FLAGS)[number];

function bad(flag: string, value: string, allowed: string): never {
  throw new UsageError(`${flag}: invalid value "${value}"; allowed: ${allowed}`);
}

/** Parses serve's flags (`--flag value` or `--flag=value`). Throws UsageError. */
export type ServeArgs = ServerOptions & {
  help?: boolean;
  listIndexes?: boolean;
  /** Where the accepted keys are read from (`--api-keys-file`). */
  apiKeysFile?: string;
  /** Secrets given as arguments, which `ps` shows: each gets a warning. */
  secretsOnCommandLine?: ('--api-key' | '--database')[];
};

export function parseServeArgs(argv: readonly string[]): ServeArgs {
  const out: ServeArgs = {};
  const keys: string[] = [];
  const origins: string[] = [];
  const indexDirs: string[] = [];
  const onCommandLine = new Set<'--api-key' | '--database'>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      continue;
    }
    if (arg === '--list-indexes') {
      out.listIndexes = true;
      continue;
    }
    if (arg === '--no-system-indexes') {
      out.systemIndexes = false;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = (eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg) as Flag;
    if (!FLAGS.includes(flag)) {
      throw new UsageError(`unknown argument "${arg}"; allowed flags: ${[...FLAGS, '--list-indexes', '--no-system-indexes'].join(', ')}`);
    }
    if (SWITCHES.includes(flag)) {
      if (eq > 0) throw new UsageError(`${flag} takes no value`);
      out.allowPrivateUrls = true;
      continue;
    }
    let value: string;
    if (eq > 0 && arg.startsWith('--')) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`${flag}: missing value`);
      value = next;
      i++;
    }
    switch (flag) {
      case '--host':
        if (value === '') bad(flag, value, 'a host name or IP address');
        out.host = value;
        break;
      case '--port': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n > 65535) bad(flag, value, 'an integer from 0 to 65535 (0 = any free port)');
        out.port = n;
        break;
      }
      case '--api-key':
        if (value === '') bad(flag, value, 'a non-empty key');
        keys.push(value);
        onCommandLine.add('--api-key');
        break;
      case '--api-keys-file':
        if (value === '') bad(flag, value, 'a file with one API key per line');
        out.apiKeysFile = value;
        break;
      case '--solver':
        if (!(SOLVER_NAMES as readonly string[]).includes(value)) bad(flag, value, SOLVER_NAMES.join(', '));
        out.solver = value as SolverName;
        break;
      case '--data-dir':
        if (value === '') bad(flag, value, 'a directory path');
        out.dataDir = value;
        break;
      case '--database':
        // The value is not repeated: it may hold a password.
        if (!/^postgres(ql)?:\/\/\S+$/.test(value)) bad(flag, '(not shown)', 'a PostgreSQL URL such as postgres://user:password@localhost/astrometry');
        out.database = value;
        onCommandLine.add('--database');
        break;
      case '--lease-seconds': {
        const n = Number(value);
        if (value.trim() === '' || !Number.isFinite(n) || n < 1 || n > 86400) bad(flag, value, 'a number of seconds from 1 to 86400');
        out.leaseMs = Math.round(n * 1000);
        break;
      }
      case '--max-upload-mb': {
        const n = Number(value);
        if (value.trim() === '' || !Number.isFinite(n) || n <= 0) bad(flag, value, 'a positive number of MiB');
        out.maxUploadBytes = Math.floor(n * 1024 * 1024);
        break;
      }
      case '--max-pixels': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n < 1 || !Number.isSafeInteger(n)) bad(flag, value, 'a positive whole number of pixels, e.g. 250000000');
        out.maxPixels = n;
        break;
      }
      case '--max-source-rows': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n < 1 || !Number.isSafeInteger(n)) bad(flag, value, 'a positive whole number of rows, e.g. 1000000');
        out.maxSourceRows = n;
        break;
      }
      case '--concurrency': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n < 1 || n > 1024) bad(flag, value, 'an integer from 1 to 1024');
        out.concurrency = n;
        break;
      }
      case '--cors-origin':
        if (!/^https?:\/\/[^/\s]+$/.test(value)) bad(flag, value, 'an origin such as http://localhost:3000 (scheme://host[:port], no path)');
        origins.push(value);
        break;
      case '--index-dir':
        if (value === '') bad(flag, value, 'a directory holding astrometry.net index files (index-*.fits)');
        indexDirs.push(value);
        break;
      case '--long-poll-max': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n > 86400) bad(flag, value, 'an integer number of seconds from 0 to 86400 (0 disables long polling)');
        out.longPollMaxSeconds = n;
        break;
      }
    }
  }
  if (keys.length > 0) out.apiKeys = keys;
  if (onCommandLine.size > 0) out.secretsOnCommandLine = [...onCommandLine];
  if (origins.length > 0) out.cors = { origins };
  if (indexDirs.length > 0) out.indexDirs = indexDirs;
  return out;
}

export interface ServeIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Where ASTROMETRY_SERVE_API_KEYS and ASTROMETRY_DATABASE_URL are read. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Resolves when the process is asked to stop. Default: SIGINT or SIGTERM. */
  untilStopped?: () => Promise<void>;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Runs the server; resolves with the exit code (0 after a clean stop, 2 for bad flags, 1 on failure). */
export async function runServe(argv: string[], io?: ServeIo): Promise<number> {
  const out = io?.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = io?.stderr ?? ((t: string) => void process.stderr.write(t));
  let opts: ServeArgs;
  try {
    opts = parseServeArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`astrometry-net serve: ${e.message}\n${SERVE_USAGE}\n`);
    return 2;
  }
  if (opts.help) {
    out(`${SERVE_HELP}\n`);
    return 0;
  }
  const env = io?.env ?? process.env;
  opts = withDefaultIndexDir(opts, env);
  if (opts.listIndexes) {
    out(await listIndexes(opts));
    return 0;
  }
  // Everything serve and its solvers create (uploads, results, the database, logs) is readable
  // by this user only, whatever the mode of the folders it is given.
  process.umask(0o077);
  try {
    opts = withSecretsFromEnvironment(opts, io?.env ?? process.env, (line) => err(`astrometry-net serve: warning: ${line}\n`));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`astrometry-net serve: ${e.message}\n`);
    return 2;
  }
  const generatedKey = opts.apiKeys === undefined;
  const { help: _help, listIndexes: _list, apiKeysFile: _file, secretsOnCommandLine: _secrets, ...serverOptions } = opts;
  // Listen for signals before starting, so a stop during startup is not lost.
  const stopped = (io?.untilStopped ?? untilSignal)();
  let server;
  try {
    server = await startServer({ ...serverOptions, log: (line) => err(`${line}\n`) });
  } catch (e) {
    err(`astrometry-net serve: could not start: ${(e as Error).message}\n`);
    return 1;
  }
  // Said once serve is up: a serve that cannot start prints its one line of why, and nothing else.
  err(`${describeDefaultIndexDir(opts, env)}\n`);
  out(`${server.url}\n`);
  if (generatedKey) err(`api key: ${server.apiKeys[0]}\n`);
  await stopped;
  await server.close();
  return 0;
}

/** Without --index-dir, serve searches its own index folder (where `indexes install` puts files) when it exists. */
export function withDefaultIndexDir(opts: ServeArgs, env: NodeJS.ProcessEnv): ServeArgs {
  if (opts.indexDirs !== undefined) return opts;
  const dir = defaultIndexDir(env);
  return existsSync(dir) ? { ...opts, indexDirs: [dir] } : opts;
}

/** serve's first line about index files: its default folder, and whether it is searched. */
function describeDefaultIndexDir(opts: ServeArgs, env: NodeJS.ProcessEnv): string {
  const dir = defaultIndexDir(env);
  const how = opts.indexDirs?.includes(dir)
    ? 'searched'
    : opts.indexDirs !== undefined && existsSync(dir)
      ? 'not searched: --index-dir given'
      : 'absent; astrometry-net indexes install fills it';
  return `default index folder: ${dir} (${how})`;
}

/** `--list-indexes`: every index file solve-field would use, and the field widths they serve. */
async function listIndexes(opts: ServeArgs): Promise<string> {
  const dirs = [...(opts.systemIndexes === false ? [] : await systemIndexDirs()), ...(opts.indexDirs ?? [])];
  const cov = await scanIndexDirs([...new Set(dirs.map((d) => resolve(d)))]);
  const lines = cov.files.map((f) => `${f.path}\tindex ${f.indexId}${f.healpix >= 0 ? ` healpix ${f.healpix}` : ''}\tquads ${formatRanges([f.quadArcmin])}`);
  lines.push(describeCoverage(cov));
  if (cov.files.length > 0) lines.push(`field widths: ${formatRanges(cov.fieldArcmin)}`);
  return lines.join('\n') + '\n';
}

const COMMAND_LINE_HINT = {
  '--api-key': '--api-key puts a key on the command line, where ps shows it to every user of this machine; use --api-keys-file FILE or ASTROMETRY_SERVE_API_KEYS instead',
  '--database': '--database puts the database URL (and its password) on the command line, where ps shows it to every user of this machine; use ASTROMETRY_DATABASE_URL instead',
} as const;

/**
 * The secrets serve needs, from where `ps` cannot see them: the keys file, then
 * ASTROMETRY_SERVE_API_KEYS; the database from ASTROMETRY_DATABASE_URL. Arguments still work,
 * and win, each with a warning. Throws UsageError for a keys file that cannot be used.
 */
export function withSecretsFromEnvironment(opts: ServeArgs, env: NodeJS.ProcessEnv, warn: (line: string) => void): ServeArgs {
  for (const flag of opts.secretsOnCommandLine ?? []) warn(COMMAND_LINE_HINT[flag]);
  const out = { ...opts };
  const keys = [...(opts.apiKeys ?? [])];
  if (opts.apiKeysFile !== undefined) keys.push(...readKeysFile(opts.apiKeysFile, warn));
  const fromEnv = env.ASTROMETRY_SERVE_API_KEYS?.split(/[\s,]+/).filter((k) => k !== '') ?? [];
  if (keys.length === 0) keys.push(...fromEnv);
  if (keys.length > 0) out.apiKeys = [...new Set(keys)];
  if (out.database === undefined && env.ASTROMETRY_DATABASE_URL) {
    if (!/^postgres(ql)?:\/\/\S+$/.test(env.ASTROMETRY_DATABASE_URL)) {
      throw new UsageError('ASTROMETRY_DATABASE_URL: not a PostgreSQL URL; allowed: postgres://user:password@host/database');
    }
    out.database = env.ASTROMETRY_DATABASE_URL;
  }
  // Read once, then out of the environment: the solver and the other programs serve runs
  // inherit it, and must not inherit the secrets.
  delete env.ASTROMETRY_DATABASE_URL;
  delete env.ASTROMETRY_SERVE_API_KEYS;
  return out;
}

function readKeysFile(path: string, warn: (line: string) => void): string[] {
  let text: string;
  try {
    const mode = statSync(path).mode;
    if ((mode & 0o077) !== 0) warn(`${path} can be read by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`--api-keys-file: cannot read "${path}" (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const keys = text
    .split(/\r?\n/)
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '');
  if (keys.length === 0) throw new UsageError(`--api-keys-file: "${path}" holds no key (one per line)`);
  return keys;
}
