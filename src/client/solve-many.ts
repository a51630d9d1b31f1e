/**
 * `client.solveMany`: many inputs through the batch machine, a bounded number in flight, each
 * outcome yielded as it settles. Loaded by the first call, so a bundle that only solves one
 * input at a time carries neither this nor the batch machine.
 */
import type { BatchItem } from '../../machines/batch.machine.js';
import { driveBatch } from './batch-driver.js';
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
  for (const [ref, value] of held) session.memory.set(ref, value);
  const ready: SolveManyOutcome[] = [];
  // With a cache, every input is looked up first: a hit is answered here, or by its job id.
  const store = session.cache;
  const cache = store ? await import('./batch-cache.js') : undefined;
  const looked = cache && store ? await cache.lookUpAll(session, store, uploads, hinted.map((h) => h.options)) : [];
  const items: BatchItem[] = [];
  for (const [index, input] of list.entries()) {
    const { options: own, hints } = hinted[index] as (typeof hinted)[number];
    const upload = uploads[index] as UploadDescriptor;
    const base = { options: own, schedule: session.schedule, timeoutMs: deadline, prefetch: files.map((kind) => ({ kind })) };
    const hit = looked[index]?.hit;
    if (!cache || !hit) {
      items.push({ id: String(index), input: { ...base, upload: withHints(upload, hints) } });
      continue;
    }
    // The bytes of an input answered from the cache are never sent.
    if (upload.kind === 'memory') session.memory.delete(upload.ref);
    const answered = cache.cachedFiles(hit, files);
    if (answered) {
      ready.push({ index, input, subid: hit.subid, jobId: hit.jobId, calibration: hit.calibration, files: answered, error: null, hints, fromCache: true });
      continue;
    }
    const server = cache.serverOfHit(hit, session);
    items.push({ id: String(index), input: { ...base, jobId: hit.jobId, subid: hit.subid, ...(server ? { server } : {}) } });
  }
  const keeping: Promise<void>[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  const run = driveBatch({
    items,
    concurrency,
    ...(sequence ? { sequence: { strict: hintMode === 'strict' } } : {}),
    solve: session.endingMachine,
    memory: session.memory,
    ...(session.inspect ? { inspect: session.inspect } : {}),
    ...(onProgress ? { onProgress } : {}),
    onSettled: ({ id, subid, jobId, calibration, files, error, hints, hash }, { context }) => {
      const index = Number(id);
      const lookup = looked[index];
      const fromCache = lookup?.hit !== undefined;
      ready.push({ index, input: list[index] as SolveInput, subid, jobId, calibration, files, error, hints, fromCache });
      if (cache && store && lookup?.key && !fromCache && calibration && subid !== null && jobId !== null) {
        const server = context.server ?? session.apiUrl;
        keeping.push(cache.keepSolved(store, lookup.key, { server, subid, jobId, calibration, hash, wcs: files.wcs }));
      }
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
  try {
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
      yield { index, input: list[index] as SolveInput, subid: null, jobId: null, calibration: null, files: {}, error, hints: null, fromCache: false };
    }
    // The entries are written before the caller's loop ends: a process that exits then keeps them.
    await Promise.all(keeping);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!finished) run.abandon();
  }
}

function withHints(upload: UploadDescriptor, hints: SolveHints | null): UploadDescriptor {
  return hints ? { ...upload, hints } : upload;
}
