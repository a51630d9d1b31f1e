#!/usr/bin/env node
/**
 * `astrometry-net`: the command line of astrometry-net-client.
 *
 * Each subcommand lives in ./commands/. Every request goes through the library's Session and
 * its statecharts; nothing here talks HTTP. Exit codes: 0 all solved, 1 some failed, 2 bad
 * usage or options, 3 authentication refused.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { packageVersion as version } from './version.js';
import { ApiError, AstrometryNetError, AuthError, ValidationError } from '../errors.js';
import { UsageError } from './args.js';
import { INSTALL_SERVER, loadServerPackage } from './server-package.js';
import { InspectorError, LocalServerError } from './connect.js';
import { MAIN_HELP } from './help.js';
import { EXIT, processIo, type CliIo } from './io.js';
import { describeValidationError } from './upload-flags.js';

const COMMANDS = ['solve', 'status', 'results', 'jobs', 'serve', 'indexes'] as const;

export { version };

/** Runs one command line; resolves with the exit code. Never throws. */
export async function run(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const err = (text: string) => void io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  const first = argv[0];
  try {
    if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
      if (first === 'help' && argv[1] && (COMMANDS as readonly string[]).includes(argv[1])) return run([argv[1], '--help'], io);
      if (first === undefined) {
        io.stderr.write(MAIN_HELP);
        return EXIT.usage;
      }
      io.stdout.write(MAIN_HELP);
      return EXIT.ok;
    }
    if (first === '--version' || first === '-V') {
      io.stdout.write(`${version()}\n`);
      return EXIT.ok;
    }
    const rest = argv.slice(1);
    switch (first) {
      case 'solve':
        return await (await import('./commands/solve.js')).runSolve(rest, io);
      case 'status':
        return await (await import('./commands/status.js')).runStatus(rest, io);
      case 'results':
        return await (await import('./commands/results.js')).runResults(rest, io);
      case 'jobs':
        return await (await import('./commands/jobs.js')).runJobs(rest, io);
      case 'serve': {
        const { runServe } = await loadServerPackage('serve');
        return await runServe([...rest]);
      }
      case 'indexes': {
        const { runIndexes } = await loadServerPackage('indexes');
        if (!runIndexes) throw new UsageError('indexes needs a newer server package.', `Update it with: ${INSTALL_SERVER}`);
        return await runIndexes([...rest]);
      }
      default:
        throw new UsageError(
          first.startsWith('-') ? `Give a command before the flags (got "${first}").` : `Unknown command "${first}".`,
          `Commands: ${COMMANDS.join(', ')}. Run \`astrometry-net --help\`.`,
        );
    }
  } catch (error) {
    if (error instanceof UsageError) {
      err(`astrometry-net: ${error.message}`);
      if (error.hint) err(error.hint);
      return EXIT.usage;
    }
    if (error instanceof ValidationError) {
      err(`astrometry-net: ${describeValidationError(error)}`);
      return EXIT.usage;
    }
    if (error instanceof AuthError || (error instanceof ApiError && /\bapikey\b/i.test(error.serverMessage))) {
      err(`astrometry-net: ${error.message}`);
      err('Check --api-key, the ASTROMETRY_API_KEY variable or the key file; find your key at https://nova.astrometry.net/api_help.');
      return EXIT.auth;
    }
    if (error instanceof LocalServerError || error instanceof InspectorError) {
      err(`astrometry-net: ${error.message}`);
      return EXIT.failed;
    }
    if (error instanceof AstrometryNetError) {
      err(`astrometry-net: ${error.code}: ${error.message}`);
      return EXIT.failed;
    }
    err(`astrometry-net: unexpected error: ${(error as Error)?.stack ?? String(error)}`);
    return EXIT.failed;
  }
}

function isMain(): boolean {
  try {
    const invoked = process.argv[1];
    if (!invoked) return false;
    return realpathSync(invoked) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const code = await run(process.argv.slice(2));
  // Flush what was written, then leave even if idle keep-alive sockets remain open.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write('', () => resolve()));
  process.exit(code);
}
