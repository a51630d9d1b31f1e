/**
 * `client.solveMany`: many inputs through the batch machine, a bounded number in flight, each
 * outcome yielded as it settles. Loaded by the first call, so a bundle that only solves one
 * input at a time carries neither this nor the batch machine.
 */
import type { BatchItem, SettledSolve } from '../../machines/batch.machine.js';
import { driveBatch, type ItemProgress } from './batch-driver.js';
import type { Calibration } from '../protocol/models.js';
import type { CachedSolve } from './solve-cache.js';
import { AbortedError, ValidationError } from '../errors.js';
import { acceptUpload, type MemoryStore, type SolveInput, type UploadDescriptor } from './solve-input.js';
import { encodeUploadOptions, UPLOAD_OPTION_NAMES } from '../protocol/upload-options.js';
import { refuseUnknownOptions } from './known-options.js';
import { FILE_RESULT_KINDS, isFileResultKind } from '../protocol/result-kinds.js';
import { checkTimeoutMs, type Session } from './session.js';
import { checkHeaderHints, mayHaveHeader, type SolveHints } from './hints.js';
import { applyHints } from './apply-hints.js';
import type { SolveManyOptions, SolveManyOutcome } from './client.js';

const SOLVE_MANY_OPTION_NAMES: readonly string[] = [
  ...UPLOAD_OPTION_NAMES,
  ...(['concurrency', 'files', 'signal', 'onProgress', 'timeoutMs', 'headerHints', 'sequence'] as const satisfies readonly (keyof SolveManyOptions)[]),
];

export async function* solveMany(session: Session, inputs: Iterable<SolveInput>, options: SolveManyOptions = {}): AsyncGenerator<SolveManyOutcome, void, undefined> {
  refuseUnknownOptions(options, SOLVE_MANY_OPTION_NAMES, 'solveMany()');
  const { concurrency = 2, files = [], signal, onProgress, timeoutMs, headerHints, sequence = false, ...uploadOptions } = options;
  const hintMode = checkHeaderHints(headerHints);
  if (typeof sequence !== 'boolean') throw new ValidationError('sequence', sequence, 'true or false');
  const deadline = timeoutMs === undefined ? session.timeoutMs : checkTimeoutMs(timeoutMs);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new ValidationError('concurrency', concurrency, 'an integer from 1 to 64');
  }
  for (const kind of files) if (!isFileResultKind(kind)) throw new ValidationError('files', kind, `file kinds: ${FILE_RESULT_KINDS.join(', ')}`);
  const wire = encodeUploadOptions(uploadOptions);
  const list = [...inputs];
  // Every input is checked before any is kept: a bad tenth input must not leave nine in memory.
  const held: MemoryStore = new Map();
  const uploads = list.map((input) => acceptUpload(input, uploadOptions, held).upload);
  // Each FITS input's header, read one at a time (the first blocks of each file only).
  const hinted: { options: typeof wire; hints: SolveHints | null }[] = [];
  const readHints = hintMode === false || !list.some(mayHaveHeader) ? undefined : (await import('./header-hints.js')).readHeaderHints;
  for (const input of list) {
    if (!readHints || !mayHaveHeader(input)) {
      hinted.push({ options: wire, hints: null });
      continue;
    }
    const { options: own, hints } = applyHints(uploadOptions, await readHints(input), hintMode === 'strict');
    hinted.push({ options: hints ? encodeUploadOptions(own) : wire, hints });
  }
  /** What every solve of this call shares: its options, the schedule, the deadline, the files to fetch. */
  const solveOf = (options: typeof wire) => ({ options, schedule: session.schedule, timeoutMs: deadline, prefetch: files.map((kind) => ({ kind })) });
  // With a cache, every input is looked up first (its bytes still in `held`, so an abort or a
  // failed import leaves nothing in the session): a hit is answered here, or asked of its job.
  const store = session.cache;
  const cache = store ? await import('./batch-cache.js') : undefined;
  const looked = cache && store ? await cache.lookUpAll(session, store, { uploads, wires: hinted.map((h) => h.options), memory: held, files }, signal) : [];
  const answered: { index: number; hit: CachedSolve }[] = [];
  const items: BatchItem[] = [];
  // A sequence's frame after a cached one is hinted by that frame's cached solution.
  let cachedBefore: Calibration | undefined;
  for (const [index, upload] of uploads.entries()) {
    const { options: own, hints } = hinted[index] as (typeof hinted)[number];
    const hit = looked[index]?.hit;
    // The bytes of an input answered from the cache are never sent, so never kept.
    const byJob = hit !== undefined && cache !== undefined && !cache.covers(hit, files);
    const bytes = upload.kind === 'memory' ? held.get(upload.ref) : undefined;
    if (upload.kind === 'memory' && bytes !== undefined && (!hit || byJob)) session.memory.set(upload.ref, bytes);
    if (hit && !byJob) {
      answered.push({ index, hit });
      cachedBefore = hit.calibration;
      continue;
    }
    const server = hit && cache ? cache.serverOfHit(hit, session) : null;
    const input = hit ? { ...solveOf(own), jobId: hit.jobId, subid: hit.subid, ...(server ? { server } : {}) } : { ...solveOf(own), upload: withHints(upload, hints) };
    items.push({ id: String(index), input, ...(sequence && cachedBefore ? { previous: cachedBefore } : {}) });
    cachedBefore = undefined;
  }
  held.clear();

  const keeping: Promise<void>[] = [];
  // Hits whose job the server no longer has: uploaded after all, in a second batch.
  const gone: BatchItem[] = [];
  const settle = (item: ItemProgress, { context }: SettledSolve): SolveManyOutcome | undefined => {
    const index = Number(item.id);
    const lookup = looked[index];
    const hit = lookup?.hit;
    const fromCache = hit !== undefined && context.upload === null;
    if (fromCache && cache?.jobGone(item.error) && uploads[index]) {
      const { options: own, hints } = hinted[index] as (typeof hinted)[number];
      gone.push({ id: item.id, input: { ...solveOf(own), upload: withHints(uploads[index] as UploadDescriptor, hints) } });
      return undefined;
    }
    // Bytes kept in case the job was gone: not needed any more.
    const upload = uploads[index];
    if (fromCache && upload?.kind === 'memory') session.memory.delete(upload.ref);
    const { subid, jobId, calibration, files: fetched, error, hints, hash } = item;
    // A solve of this batch is kept; so is a hit that gained the WCS file its entry lacked.
    const worthKeeping = !fromCache || (fetched.wcs !== undefined && hit?.wcs === null && files.includes('wcs'));
    if (cache && store && lookup?.key && worthKeeping && calibration && subid !== null && jobId !== null) {
      keeping.push(cache.keep(store, lookup.key, { server: context.server ?? session.apiUrl, subid, jobId, calibration, hash, wcs: fetched.wcs }));
    }
    return { index, input: list[index] as SolveInput, subid, jobId, calibration, files: fetched, error, hints, fromCache };
  };

  // The batch starts now; the cached answers are yielded while it runs.
  let batch = startBatch(items);
  try {
    // Each built as it is yielded: its WCS file decoded then, not all at once.
    // No request is made for them, so a cancelled batch still gets them.
    for (const { index, hit } of answered) {
      yield { index, input: list[index] as SolveInput, subid: hit.subid, jobId: hit.jobId, calibration: hit.calibration, files: cache?.cachedFiles(hit, files) ?? {}, error: null, hints: null, fromCache: true };
    }
    answered.length = 0;
    yield* batch.outcomes();
    if (gone.length > 0 && !signal?.aborted) {
      // The first batch is over: its abort listener goes before the second's comes.
      batch.close();
      batch = startBatch(gone.splice(0));
      yield* batch.outcomes();
    }
  } finally {
    batch.close();
    // The entries are written before the caller's loop ends: a process that exits then keeps them.
    await Promise.all(keeping);
    // Bytes of hits that were never sent again (a stopped batch) are not kept.
    for (const { input } of gone) if (input.upload?.kind === 'memory') session.memory.delete(input.upload.ref);
  }

  /** One batch through the machine, started at once: its settled items as `settle` makes them, then those never started. */
  function startBatch(batchItems: BatchItem[]) {
    const ready: SolveManyOutcome[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    const run = driveBatch({
      items: batchItems,
      concurrency,
      ...(sequence ? { sequence: { strict: hintMode === 'strict' } } : {}),
      solve: session.endingMachine,
      memory: session.memory,
      ...(session.inspect ? { inspect: session.inspect } : {}),
      ...(onProgress ? { onProgress } : {}),
      onSettled: (item, snapshot) => {
        const outcome = settle(item, snapshot);
        if (outcome) ready.push(outcome);
        wake?.();
      },
    });
    const ended = () => {
      finished = true;
      wake?.();
    };
    run.done.then(ended, ended);
    const onAbort = () => run.stop('The batch was cancelled.');
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    return {
      async *outcomes(): AsyncGenerator<SolveManyOutcome> {
        for (;;) {
          const next = ready.shift();
          if (next) {
            yield next;
            continue;
          }
          if (finished) break;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        for (const id of (await run.done).notStarted) {
          const index = Number(id);
          const error = new AbortedError('Not started: the batch was cancelled.');
          yield { index, input: list[index] as SolveInput, subid: null, jobId: null, calibration: null, files: {}, error, hints: null, fromCache: looked[index]?.hit !== undefined };
        }
      },
      /** The caller walked away (or the batch is over): stop listening, and stop the batch if it still runs. */
      close(): void {
        signal?.removeEventListener('abort', onAbort);
        if (!finished) run.abandon();
      },
    };
  }
}

function withHints(upload: UploadDescriptor, hints: SolveHints | null): UploadDescriptor {
  return hints ? { ...upload, hints } : upload;
}
