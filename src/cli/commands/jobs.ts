/** `astrometry-net jobs`: the account's job ids, through the account machine (Session.myJobs). */
import { Flags, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { connect, CONNECTION_FLAGS, requireApiKey, verboseRequests } from '../connect.js';
import { JOBS_HELP } from '../help.js';
import { COMMON_FLAGS, EXIT, type CliIo } from '../io.js';

export const JOBS_FLAGS: readonly FlagSpec[] = [...COMMON_FLAGS, ...CONNECTION_FLAGS, { name: 'out', type: 'string', short: 'o' }];

export async function runJobs(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseArgs(argv, JOBS_FLAGS, 'jobs'));
  if (flags.bool('help')) {
    io.stdout.write(JOBS_HELP);
    return EXIT.ok;
  }
  if (flags.parsed.positionals.length > 0) throw new UsageError(`jobs takes no arguments (got "${flags.parsed.positionals[0]}").`);
  await requireApiKey(flags);
  const connection = await connect(flags, {
    outDir: io.cwd,
    ...verboseRequests(flags, io.stderr),
  });
  try {
    const ids = [...(await connection.session.myJobs())].sort((a, b) => a - b);
    if (flags.bool('json')) io.stdout.write(`${JSON.stringify({ jobs: ids })}\n`);
    else if (ids.length > 0) io.stdout.write(`${ids.join('\n')}\n`);
    else if (!flags.bool('quiet')) io.stderr.write('No jobs on this account yet.\n');
    return EXIT.ok;
  } finally {
    await connection.close();
  }
}
