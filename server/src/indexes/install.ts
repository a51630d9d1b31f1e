/**
 * `indexes install`: the files that serve the requested widths, fetched one after the other
 * into the folder. A file already there (and whole) is never fetched again; a transfer that
 * breaks off resumes where it stopped, here (up to --retries times) or on the next run.
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, interceptors } from 'undici';
import { formatRanges, scanIndexDirs } from '../solvers/index-coverage.js';
import { planFiles, type CatalogueFile } from './catalogue.js';
import type { InstallArgs } from './args.js';
import { downloadIndexFile, PART_SUFFIX } from './download.js';
import { DownloadCutError, IndexWriteError } from './errors.js';
import { formatBytes, formatSpeed, ProgressLine } from './progress.js';
import { validateIndexFile } from './validate.js';

export interface InstallIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Whether stderr is a terminal (the progress bar is drawn in place). */
  terminal: boolean;
  signal?: AbortSignal;
}

/** Limits of one transfer: the mirror must answer within 30 s and never fall silent for 60 s. */
const HEADERS_TIMEOUT_MS = 30_000;
const BODY_TIMEOUT_MS = 60_000;
/** Slowest average a transfer may keep (then it is cut, and resumed): 50 kB/s, under an hour for 165 MB. */
const MIN_BYTES_PER_SECOND = 50_000;
/**
 * The catalogue's sizes are typical ones (a tile's size varies with its stars); a mirror that
 * announces more than twice that is not sending the index file. A file of unknown size: 1 GB.
 */
const SIZE_MARGIN = 2;
const UNKNOWN_SIZE_CAP = 1_000_000_000;
/** Pause before a resume after a cut. */
const RETRY_PAUSE_MS = 1_000;

// Node's promise timer takes its abort listener off the signal when it fires, so a run with many
// resumes leaves none behind on the caller's signal; an interrupt just ends the pause early.
const sleep = (ms: number, signal?: AbortSignal) => delay(ms, undefined, signal ? { signal } : {}).catch(() => undefined);

/** Whether a whole, valid copy of `f` is in `dir` already (checked from its own structure). */
async function alreadyThere(dir: string, f: CatalogueFile): Promise<'yes' | 'no' | string> {
  const file = path.join(dir, f.name);
  const st = await stat(file).catch(() => null);
  if (!st) return 'no';
  try {
    await validateIndexFile(file, f.name, { indexId: f.indexId, healpix: f.healpix, size: st.size });
    return 'yes';
  } catch (err) {
    return (err as Error).message;
  }
}

/** Resolves with the exit code: 0 all there, 1 some file failed. */
export async function installIndexes(args: InstallArgs, dir: string, io: InstallIo): Promise<number> {
  const files = planFiles({ widthArcmin: args.widthArcmin, series: args.series, ...(args.sky ? { sky: args.sky } : {}) });
  const widths = formatRanges([args.widthArcmin]);
  if (files.length === 0) {
    io.err(`no file of series ${args.series.join(', ')} serves fields ${widths} wide\n`);
    return 1;
  }
  const approx = files.reduce((n, f) => n + f.approxBytes, 0);
  io.err(
    `fields ${widths} wide${args.sky ? ` around RA ${args.sky.ra}°, Dec ${args.sky.dec}° (radius ${args.sky.radius}°)` : ''}: ` +
      `${files.length} file(s), about ${formatBytes(approx)}, from ${args.mirror} into ${dir}\n`,
  );
  if (args.dryRun) {
    for (const f of files) io.out(`${args.mirror}/${f.path}\tfields ${formatRanges([f.fieldArcmin])}\t≈${formatBytes(f.approxBytes)}\n`);
    return 0;
  }
  await mkdir(dir, { recursive: true });
  const dispatcher = new Agent({ headersTimeout: HEADERS_TIMEOUT_MS, bodyTimeout: BODY_TIMEOUT_MS }).compose(interceptors.redirect({ maxRedirections: 3 }));
  const progress = new ProgressLine(io.err, io.terminal);
  let failed = 0;
  let fetched = 0;
  let bytes = 0;
  let transferMs = 0;
  try {
    for (const f of files) {
      if (io.signal?.aborted) break;
      const there = await alreadyThere(dir, f);
      if (there === 'yes') {
        io.err(`${f.name}: already installed\n`);
        continue;
      }
      if (there !== 'no') {
        // Not ours to overwrite: solve-field would load it, and it is broken.
        io.err(`${there}; remove it and run again\n`);
        failed++;
        continue;
      }
      const url = `${args.mirror}/${f.path}`;
      for (let attempt = 0; ; attempt++) {
        const partBytes = await stat(path.join(dir, f.name + PART_SUFFIX)).then((s) => s.size, () => 0);
        progress.begin(f.name, partBytes);
        try {
          const r = await downloadIndexFile(url, dir, f.name, { indexId: f.indexId, healpix: f.healpix }, {
            dispatcher,
            headersTimeoutMs: HEADERS_TIMEOUT_MS,
            bodyTimeoutMs: BODY_TIMEOUT_MS,
            maxBytes: f.approxBytes > 0 ? Math.round(f.approxBytes * SIZE_MARGIN) : UNKNOWN_SIZE_CAP,
            minBytesPerSecond: MIN_BYTES_PER_SECOND,
            onProgress: (p) => progress.update(p.received, p.total),
            ...(io.signal ? { signal: io.signal } : {}),
          });
          fetched++;
          bytes += r.transferred;
          transferMs += r.elapsedMs;
          const resumed = r.resumedFrom > 0 ? `, resumed at ${formatBytes(r.resumedFrom)}` : '';
          progress.end(
            `${f.name}: ${formatBytes(r.total)} (${formatBytes(r.transferred)} fetched in ${(r.elapsedMs / 1000).toFixed(1)} s, ` +
              `${formatSpeed((r.transferred * 1000) / Math.max(1, r.elapsedMs))}${resumed}), valid index ${f.indexId}${f.healpix >= 0 ? ` tile ${f.healpix}` : ''}`,
          );
          break;
        } catch (err) {
          if (io.signal?.aborted) {
            progress.end(`${f.name}: interrupted; what arrived is kept, run the same command again to resume`);
            failed++;
            break;
          }
          if (err instanceof DownloadCutError && attempt < args.retries) {
            progress.end(`${f.name}: ${err.message}; resuming (${attempt + 1} of ${args.retries})`);
            await sleep(RETRY_PAUSE_MS, io.signal);
            continue;
          }
          const hint =
            err instanceof DownloadCutError
              ? '; what arrived is kept, run the same command again to resume'
              : err instanceof IndexWriteError
                ? '; free space there (or choose another --dir) and run the same command again to resume'
                : '';
          const message = (err as Error).message;
          progress.end(`${message.startsWith(f.name) ? '' : `${f.name}: `}${message}${hint}`);
          failed++;
          break;
        }
      }
    }
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
  if (fetched > 0) {
    io.err(`fetched ${fetched} file(s), ${formatBytes(bytes)} in ${(transferMs / 1000).toFixed(1)} s (${formatSpeed((bytes * 1000) / Math.max(1, transferMs))})\n`);
  }
  const cov = await scanIndexDirs([dir]);
  io.err(`${dir} now serves fields ${formatRanges(cov.fieldArcmin)} wide (${cov.files.length} index files)\n`);
  if (failed > 0) {
    io.err(`${failed} file(s) not installed\n`);
    return 1;
  }
  return 0;
}
