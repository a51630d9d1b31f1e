/**
 * Many solves in one process, with a bounded number alive at once.
 *
 *   running ──DRAIN──▶ draining ──(the running ones settled, or with until: 'uploaded',
 *      │                  │        no upload in flight)──▶ stopping / done
 *      │                  └─CANCEL─┐
 *      └──────CANCEL──────────────▶ stopping ──(every running one settled)──▶ done
 *      └──(every item settled)──▶ done
 *
 * Each item is a child solve machine, spawned when a slot is free and stopped as soon as it
 * settles, so 10 000 queued files cost O(N): xstate spawning is O(live children), and there are
 * never more than `concurrency` of them. The batch follows each child through its snapshots
 * (`syncSnapshot`): a child is settled when its snapshot has the tag `settled`, so the solve
 * machine knows nothing of batches. Every snapshot is announced as `itemUpdated`, a settled item
 * as `itemSettled` with the child's final snapshot (results included) for the consumer to write
 * out; the batch's own context keeps only a count and the stages of the live children.
 *
 * Hints (src/client/hints.ts): a child whose hinted solve found nothing is replaced, while the
 * batch runs, by one blind retry of the same upload (`itemRetrying`; child id `<id>:blind`), and
 * only that one's outcome settles the item. With `sequence`, items go one at a time and each is
 * spawned hinted by the calibration of the last one solved.
 */
import { assign, enqueueActions, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import { isSettled, stageOf, type SolveStage } from '../src/client/solve-view.js';
import { blindRetry, RETRY_BLIND_ON } from '../src/client/hints.js';
import { applyHintsToWire, hintsFromCalibration } from '../src/client/apply-hints.js';
import type { Calibration } from '../src/protocol/models.js';
import { solveMachine, type SolveMachineInput, type SolveSnapshot } from './solve.machine.js';

export interface BatchItem {
  /** Unique within the batch; also the child actor's id. */
  id: string;
  input: SolveMachineInput;
}

/** A live child: its id and its top-level state. */
export interface RunningItem {
  id: string;
  /** The child actor's id: the item's id, or `<id>:blind` for the blind retry of a hinted solve that failed. */
  child: string;
  /** The child's top-level state (`idle`, `uploading`, `jobRunning`, …), as `SolveView.stage`. */
  stage: SolveStage;
}

export interface BatchContext {
  items: BatchItem[];
  /** Index of the next item to start: items before it were started. */
  next: number;
  /** The live children, in the order they started. */
  running: RunningItem[];
  concurrency: number;
  /** How many items settled; their final snapshots went out in `itemSettled` events. */
  settledCount: number;
  /** What `draining` waits for: every running item to settle, or only the uploads in flight. */
  drainUntil: 'settled' | 'uploaded';
  /** A sequence: one item at a time, each hinted by the last solution (`previous`). `null` otherwise. */
  sequence: { strict: boolean; previous: Calibration | null } | null;
}

export interface BatchInput {
  items: BatchItem[];
  concurrency: number;
  /**
   * Solve the items in order, one at a time, each hinted by the calibration of the last one
   * solved (its centre and radius, its scale ±10 %); `strict`: a hinted failure is not retried blind.
   */
  sequence?: { strict: boolean };
}

export interface BatchOutput {
  /** How many items settled (each was announced by `itemSettled`). */
  settled: number;
  /** Items never started (after DRAIN or CANCEL). */
  notStarted: string[];
}

export type ChildSnapshotEvent = { type: `xstate.snapshot.${string}`; snapshot: SolveSnapshot };

export type BatchEvent =
  /**
   * Start nothing new. `until: 'settled'` (default): the running solves finish, then the batch
   * is done. `until: 'uploaded'`: solves that have sent nothing yet are cancelled, uploads in
   * flight are let reach their submission id, then the rest is cancelled (a clean stop that a
   * later run can resume from ids, with no upload left in doubt).
   */
  | { type: 'DRAIN'; until?: 'settled' | 'uploaded' }
  /** Cancel every running solve now; the batch is done once each has settled. */
  | { type: 'CANCEL'; reason?: string }
  | ChildSnapshotEvent;

export type BatchEmitted =
  /** The child is then `snapshot.children[id]`. */
  | { type: 'itemStarted'; id: string }
  /** A new snapshot of a live child. */
  | { type: 'itemUpdated'; id: string; snapshot: SolveSnapshot }
  /** The child's hinted solve failed and was stopped; a blind retry of the item starts (its snapshot follows as the item's). */
  | { type: 'itemRetrying'; id: string; snapshot: SolveSnapshot }
  /** The child settled (`viewOf(snapshot)` tells how), and was stopped: its final snapshot, results included. */
  | { type: 'itemSettled'; id: string; snapshot: SolveSnapshot };

const SNAPSHOT_PREFIX = 'xstate.snapshot.';
/** States in which a solve has sent nothing yet: cancelling it leaves nothing behind. */
const NOT_SENT = new Set(['idle', 'loggingIn']);

function childId(event: ChildSnapshotEvent): string {
  return event.type.slice(SNAPSHOT_PREFIX.length);
}

/** The child id of an item's blind retry. */
const BLIND = ':blind';

/** An item's input hinted by the previous frame of a sequence (what the caller set stays). */
function hintedByPrevious(input: SolveMachineInput, previous: Calibration, strict: boolean): SolveMachineInput {
  if (!input.upload) return input;
  const { options, hints } = applyHintsToWire(input.options ?? {}, input.upload.hints, hintsFromCalibration(previous), strict);
  return { ...input, options, upload: hints ? { ...input.upload, hints } : input.upload };
}

/**
 * The blind retry of a settled child, or `null`: when its hinted solve found nothing, the same
 * upload once more with no hint (src/client/hints.ts), on a fresh deadline of the same length.
 */
function blindRetryInput(snapshot: SolveSnapshot): SolveMachineInput | null {
  const c = snapshot.context;
  if (!c.upload || !c.error || !RETRY_BLIND_ON.includes(c.error.code)) return null;
  const retry = blindRetry(c.options, c.upload.hints, { subid: c.subid, jobId: c.jobId });
  if (!retry) return null;
  return { upload: { ...c.upload, hints: retry.hints }, options: retry.options, schedule: c.polling.schedule, timeoutMs: c.timeoutMs, prefetch: c.prefetch };
}

export const batchMachine = setup({
  types: {
    context: {} as BatchContext,
    input: {} as BatchInput,
    events: {} as BatchEvent,
    emitted: {} as BatchEmitted,
    output: {} as BatchOutput,
  },
  actors: { solve: solveMachine },
  guards: {
    noneRunning: ({ context }) => context.running.length === 0,
    allSettled: ({ context }) => context.next >= context.items.length && context.running.length === 0,
    uploadsLanded: ({ context }) => context.drainUntil === 'uploaded' && !context.running.some((r) => r.stage === 'uploading'),
  },
  actions: {
    fillPool: enqueueActions(({ context, enqueue }) => {
      // Most child snapshots free no slot: then nothing is copied or assigned.
      if (context.running.length >= context.concurrency || context.next >= context.items.length) return;
      let next = context.next;
      const running = [...context.running];
      const { sequence } = context;
      while (running.length < context.concurrency && next < context.items.length) {
        const item = context.items[next++] as BatchItem;
        const input = sequence?.previous ? hintedByPrevious(item.input, sequence.previous, sequence.strict) : item.input;
        enqueue.spawnChild('solve', { id: item.id, input, syncSnapshot: true });
        enqueue.sendTo(item.id, { type: 'START' });
        enqueue.emit({ type: 'itemStarted', id: item.id });
        running.push({ id: item.id, child: item.id, stage: 'idle' });
      }
      enqueue.assign({ next, running });
    }),
    /** Announces the child's snapshot; a settled child is announced, stopped and forgotten. */
    follow: enqueueActions(({ context, event, enqueue }, params: { retry: boolean }) => {
      const child = childId(event as ChildSnapshotEvent);
      const { snapshot } = event as ChildSnapshotEvent;
      const live = context.running.find((r) => r.child === child);
      if (!live) return;
      const { id } = live;
      enqueue.emit({ type: 'itemUpdated', id, snapshot });
      if (!isSettled(snapshot)) {
        const stage = stageOf(snapshot);
        if (stage !== live.stage) enqueue.assign({ running: context.running.map((r) => (r.id === id ? { ...r, stage } : r)) });
        return;
      }
      enqueue.stopChild(child);
      // Only while running: a draining or stopping batch starts no new upload.
      const retry = params.retry ? blindRetryInput(snapshot) : null;
      if (retry) {
        // The item is not settled: its blind retry takes the failed child's place.
        const blind = id + BLIND;
        enqueue.emit({ type: 'itemRetrying', id, snapshot });
        enqueue.spawnChild('solve', { id: blind, input: retry, syncSnapshot: true });
        enqueue.sendTo(blind, { type: 'START' });
        enqueue.assign({ running: context.running.map((r) => (r.id === id ? { id, child: blind, stage: 'idle' } : r)) });
        return;
      }
      enqueue.emit({ type: 'itemSettled', id, snapshot });
      const solved = snapshot.context.error === null ? snapshot.context.results.calibration : undefined;
      enqueue.assign({
        running: context.running.filter((r) => r.id !== id),
        // A count, not a list: copying a growing list per item would make a batch O(N^2).
        settledCount: context.settledCount + 1,
        ...(context.sequence && solved ? { sequence: { ...context.sequence, previous: solved } } : {}),
      });
    }),
    /** What the drain waits for: every running solve settled (default), or only their uploads. */
    setDrainUntil: assign({ drainUntil: ({ event }) => (event as Extract<BatchEvent, { type: 'DRAIN' }>).until ?? 'settled' }),
    cancelUnsent: enqueueActions(({ context, enqueue }) => {
      for (const r of context.running) if (NOT_SENT.has(r.stage)) enqueue.sendTo(r.child, { type: 'CANCEL', reason: 'The batch was stopped before this input was sent.' });
    }),
    cancelRunning: enqueueActions(({ context, event, enqueue }) => {
      const reason = (event as { reason?: string }).reason ?? 'The batch was cancelled.';
      for (const r of context.running) enqueue.sendTo(r.child, { type: 'CANCEL', reason });
    }),
  },
}).createMachine({
  id: 'batch',
  context: ({ input }) => ({
    items: input.items,
    next: 0,
    running: [],
    // A sequence is one at a time: each item waits for the solution before it.
    concurrency: input.sequence ? 1 : Math.max(1, input.concurrency),
    settledCount: 0,
    drainUntil: 'settled',
    sequence: input.sequence ? { strict: input.sequence.strict, previous: null } : null,
  }),
  initial: 'running',
  on: {
    'xstate.snapshot.*': { actions: { type: 'follow', params: { retry: false } } },
  },
  states: {
    running: {
      entry: 'fillPool',
      always: { guard: 'allSettled', target: 'done' },
      on: {
        'xstate.snapshot.*': { actions: [{ type: 'follow', params: { retry: true } }, 'fillPool'] },
        DRAIN: { target: 'draining', actions: 'setDrainUntil' },
        CANCEL: 'stopping',
      },
    },
    draining: {
      description: 'Nothing new starts; the batch ends when the running solves settle, or their uploads land.',
      entry: enqueueActions(({ context, enqueue }) => {
        if (context.drainUntil === 'uploaded') enqueue('cancelUnsent');
      }),
      always: [
        { guard: 'noneRunning', target: 'done' },
        { guard: 'uploadsLanded', target: 'stopping' },
      ],
      on: { CANCEL: 'stopping' },
    },
    stopping: {
      description: 'Every running solve was cancelled; the batch ends when each has settled.',
      entry: 'cancelRunning',
      always: { guard: 'noneRunning', target: 'done' },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ settled: context.settledCount, notStarted: context.items.slice(context.next).map((i) => i.id) }),
});

export type BatchActor = ActorRefFrom<typeof batchMachine>;
export type BatchSnapshot = SnapshotFrom<typeof batchMachine>;
