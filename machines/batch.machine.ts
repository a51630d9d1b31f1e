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
 * never more than `concurrency` of them. Each child is the solve machine that ends once settled
 * (`endsWhenSettled`): the batch hears of it once, from its done event, whose output is the
 * child's context (outcome, ids, results); the solve machine knows nothing of batches. A settled
 * item is announced as `itemSettled` with that final state for the consumer to write out. The
 * batch does not follow each child's every snapshot (that costs a step of the batch per step of
 * every solve): a consumer that shows progress subscribes to the children it is told of in
 * `itemStarted`. The batch reads its children's states only when it must decide on them (a DRAIN
 * until uploaded), and then watches the uploads in flight until they land.
 *
 * Hints (src/client/hints.ts): a child whose hinted solve found nothing is replaced, while the
 * batch runs, by one blind retry of the same upload (`itemRetrying`; child id `<id>:blind`), and
 * only that one's outcome settles the item. With `sequence`, items go one at a time and each is
 * spawned hinted by the calibration of the last one solved.
 */
import { assign, enqueueActions, fromCallback, setup, type ActorRefFrom, type AnyActorRef, type SnapshotFrom } from 'xstate';
import { stageOf, type SolveStage } from '../src/client/solve-view.js';
import { blindRetry, RETRY_BLIND_ON } from '../src/client/hints.js';
import { serializeError } from '../src/errors.js';
import { applyHintsToWire, hintsFromCalibration } from '../src/client/apply-hints.js';
import type { Calibration } from '../src/protocol/models.js';
import { endingSolveMachine, type SolveContext, type SolveMachineInput, type SolveSnapshot, type SolveTag } from './solve.machine.js';

export interface BatchItem {
  /** Unique within the batch; also the child actor's id. */
  id: string;
  input: SolveMachineInput;
  /**
   * In a sequence: the solution of the frame just before this one when this batch does not solve
   * that frame (a cache answered it). It hints this item in place of the batch's last solution.
   */
  previous?: Calibration;
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

/** A settled item as its child ended: what `viewOf` reads (the outcome, the stage), and the whole context. */
export interface SettledSolve {
  value: 'success' | 'failure';
  context: SolveContext;
  hasTag(tag: SolveTag): boolean;
}

/** The settled state of a child from its final context (its done event's output). */
export function settledSolve(context: SolveContext): SettledSolve {
  return { value: context.error === null ? 'success' : 'failure', context, hasTag: (tag) => tag === 'settled' };
}

type ChildDoneEvent = { type: `xstate.done.actor.${string}`; actorId: string; output: SolveContext };
type ChildErrorEvent = { type: `xstate.error.actor.${string}`; actorId: string; error: unknown };

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
  /** A watched upload landed (the child left `uploading`), or its child is gone. */
  | { type: 'UPLOAD_LANDED'; child: string }
  | ChildDoneEvent
  | ChildErrorEvent;

export type BatchEmitted =
  /** An item's solve started: `child` is its actor's id, `snapshot.children[child]`, to subscribe to for its progress. */
  | { type: 'itemStarted'; id: string; child: string }
  /** The item's hinted solve failed and ended; a blind retry of the item starts as the child `child`. */
  | { type: 'itemRetrying'; id: string; child: string; snapshot: SettledSolve }
  /** The item settled (`viewOf(snapshot)` tells how), and its child ended: its final state, results included. */
  | { type: 'itemSettled'; id: string; snapshot: SettledSolve };

/** States in which a solve has sent nothing yet: cancelling it leaves nothing behind. */
const NOT_SENT = new Set(['idle', 'loggingIn']);

/** The live children's stages, read from their snapshots (the batch does not follow them). */
function withLiveStages(running: RunningItem[], self: AnyActorRef): RunningItem[] {
  const children = self.getSnapshot().children as Record<string, AnyActorRef | undefined>;
  return running.map((r) => {
    const child = children[r.child]?.getSnapshot() as SolveSnapshot | undefined;
    return child ? { ...r, stage: stageOf(child) } : r;
  });
}

/** Watches one child's upload: says UPLOAD_LANDED once the child has left `uploading`. */
const watchUpload = fromCallback<{ type: string }, { ref: AnyActorRef; child: string }>(({ input, sendBack }) => {
  let done = false;
  const landed = () => {
    if (done) return;
    done = true;
    sendBack({ type: 'UPLOAD_LANDED', child: input.child });
  };
  const sub = input.ref.subscribe({ next: (s: SolveSnapshot) => stageOf(s) !== 'uploading' && landed(), complete: landed, error: landed });
  if (stageOf(input.ref.getSnapshot() as SolveSnapshot) !== 'uploading') landed();
  return () => sub.unsubscribe();
});

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
function blindRetryInput(snapshot: SettledSolve): SolveMachineInput | null {
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
  actors: { solve: endingSolveMachine, watchUpload },
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
        const previous = item.previous ?? sequence?.previous;
        const input = sequence && previous ? hintedByPrevious(item.input, previous, sequence.strict) : item.input;
        enqueue.spawnChild('solve', { id: item.id, input });
        enqueue.sendTo(item.id, { type: 'START' });
        enqueue.emit({ type: 'itemStarted', id: item.id, child: item.id });
        running.push({ id: item.id, child: item.id, stage: 'idle' });
      }
      enqueue.assign({ next, running });
    }),
    /** A child ended: its item is announced as settled (or retried blind) and forgotten. */
    follow: enqueueActions(({ context, event, self, enqueue }, params: { retry: boolean }) => {
      const ended = event as ChildDoneEvent | ChildErrorEvent;
      const live = context.running.find((r) => r.child === ended.actorId);
      if (!live) return;
      const { id } = live;
      // A child that crashed (a bug, never a failed solve) settles from its last state.
      const final = 'output' in ended ? ended.output : ((self.getSnapshot().children as Record<string, AnyActorRef | undefined>)[ended.actorId]?.getSnapshot() as SolveSnapshot | undefined)?.context;
      if (!final) return;
      const snapshot = settledSolve('output' in ended ? final : { ...final, error: final.error ?? serializeError(ended.error) });
      enqueue.stopChild(ended.actorId);
      // Only while running: a draining or stopping batch starts no new upload.
      const retry = params.retry ? blindRetryInput(snapshot) : null;
      if (retry) {
        // The item is not settled: its blind retry takes the failed child's place.
        const blind = id + BLIND;
        enqueue.emit({ type: 'itemRetrying', id, child: blind, snapshot });
        enqueue.spawnChild('solve', { id: blind, input: retry });
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
    /** The uploads in flight are watched until they land: what a drain until uploaded waits for. */
    watchUploads: enqueueActions(({ context, self, enqueue }) => {
      const running = withLiveStages(context.running, self);
      const children = self.getSnapshot().children as Record<string, AnyActorRef | undefined>;
      for (const r of running) {
        const ref = children[r.child];
        if (r.stage === 'uploading' && ref) enqueue.spawnChild('watchUpload', { id: `${r.child}:upload`, input: { ref, child: r.child } });
      }
      enqueue.assign({ running });
    }),
    noteUploadLanded: assign({
      running: ({ context, event }) => {
        const { child } = event as Extract<BatchEvent, { type: 'UPLOAD_LANDED' }>;
        return context.running.map((r) => (r.child === child && r.stage === 'uploading' ? { ...r, stage: 'submissionPending' as const } : r));
      },
    }),
    /** What the drain waits for: every running solve settled (default), or only their uploads. */
    setDrainUntil: assign({ drainUntil: ({ event }) => (event as Extract<BatchEvent, { type: 'DRAIN' }>).until ?? 'settled' }),
    cancelUnsent: enqueueActions(({ context, self, enqueue }) => {
      for (const r of withLiveStages(context.running, self)) {
        if (NOT_SENT.has(r.stage)) enqueue.sendTo(r.child, { type: 'CANCEL', reason: 'The batch was stopped before this input was sent.' });
      }
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
    'xstate.done.actor.*': { actions: { type: 'follow', params: { retry: false } } },
    'xstate.error.actor.*': { actions: { type: 'follow', params: { retry: false } } },
    UPLOAD_LANDED: { actions: 'noteUploadLanded' },
  },
  states: {
    running: {
      entry: 'fillPool',
      always: { guard: 'allSettled', target: 'done' },
      on: {
        'xstate.done.actor.*': { actions: [{ type: 'follow', params: { retry: true } }, 'fillPool'] },
        'xstate.error.actor.*': { actions: [{ type: 'follow', params: { retry: false } }, 'fillPool'] },
        DRAIN: { target: 'draining', actions: 'setDrainUntil' },
        CANCEL: 'stopping',
      },
    },
    draining: {
      description: 'Nothing new starts; the batch ends when the running solves settle, or their uploads land.',
      entry: enqueueActions(({ context, enqueue }) => {
        if (context.drainUntil !== 'uploaded') return;
        enqueue('cancelUnsent');
        enqueue('watchUploads');
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
