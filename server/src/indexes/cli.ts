/**
 * `astrometry-net indexes list|install`: the index files serve solves with. Listings go to
 * stdout; progress, notes and errors to stderr.
 */
import { parseIndexesArgs, type IndexesArgs } from './args.js';
import { DATA_SITE } from './catalogue.js';
import { defaultIndexDir } from './default-dir.js';
import { IndexesUsageError } from './errors.js';
import { installIndexes } from './install.js';
import { listIndexes } from './list.js';

export const INDEXES_USAGE = `usage: astrometry-net indexes list [--dir DIR] [--no-system-indexes]
       astrometry-net indexes install --width MIN-MAX [--series 4100|4200|5200]... [--ra DEG --dec DEG --radius DEG]
                                      [--mirror URL] [--dir DIR] [--retries N] [--dry-run]`;

export const INDEXES_HELP = `${INDEXES_USAGE}

The astrometry.net index files serve solves with. Each serves one band of field widths; the
narrow ones (4200, 5200 series) are cut into 48 or 12 healpix tiles of the sky.

  list                the index files installed (the system's and DIR's) with the field widths
                      each serves and its size, then the series on the data site: 4100 (Tycho-2,
                      fields from 22'), 4200 (2MASS) and 5200 (Gaia DR2 + Tycho-2, fields from 2')
  install             fetch the files that serve fields MIN-MAX degrees wide into DIR; a file
                      there already is kept, a cut download resumes where it stopped, and a file
                      that is not a valid index is refused and deleted

  --width MIN-MAX     field widths to serve, degrees, e.g. 0.4-0.9 (required for install)
  --series S          4100, 4200 or 5200; repeat or separate with commas (default: 4100 where it
                      has the scale, 5200 for narrower fields)
  --ra --dec --radius only the healpix tiles covering this sky, degrees (default: the whole sky)
  --mirror URL        where to fetch from, laid out as the data site (<URL>/4100/index-4107.fits,
                      <URL>/4200/index-4205-03.fits) (default ${DATA_SITE})
  --dir DIR           the folder (default: serve's index folder, which serve searches when given
                      no --index-dir: $XDG_DATA_HOME/astrometry-net/indexes, else
                      ~/.local/share/astrometry-net/indexes)
  --retries N         resumes of a cut download before giving up on it (default 3)
  --dry-run           print the files install would fetch, fetch nothing
  --no-system-indexes list: leave out the system's index folders (/etc/astrometry.cfg)
  -h, --help          this help

exit codes: 0 done, 1 some file not installed, 2 bad usage.`;

export interface IndexesIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stderr is a terminal. Default: process.stderr.isTTY. */
  terminal?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Aborts the download in progress (its part is kept). Default: SIGINT or SIGTERM. */
  signal?: AbortSignal;
}

export async function runIndexes(argv: string[], io?: IndexesIo): Promise<number> {
  const out = io?.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = io?.stderr ?? ((t: string) => void process.stderr.write(t));
  let args: IndexesArgs;
  try {
    args = parseIndexesArgs(argv);
  } catch (e) {
    if (!(e instanceof IndexesUsageError)) throw e;
    err(`astrometry-net indexes: ${e.message}\n${INDEXES_USAGE}\n`);
    return 2;
  }
  if (args.command === 'help') {
    out(`${INDEXES_HELP}\n`);
    return 0;
  }
  const dir = args.dir ?? defaultIndexDir(io?.env ?? process.env);
  if (args.command === 'list') {
    out(await listIndexes(dir, args.systemIndexes));
    return 0;
  }
  let signal = io?.signal;
  let release = () => {};
  if (!signal) {
    const ac = new AbortController();
    const stop = () => ac.abort(new Error('interrupted'));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    release = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    };
    signal = ac.signal;
  }
  try {
    return await installIndexes(args, dir, { out, err, terminal: io?.terminal ?? process.stderr.isTTY === true, signal });
  } finally {
    release();
  }
}
