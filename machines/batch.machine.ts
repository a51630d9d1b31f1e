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
 */
import { assign, enqueueActions, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import { isSettled, stageOf, type SolveStage } from '../src/client/solve-view.js';
import { solveMachine, type SolveMachineInput, type SolveSnapshot } from './solve.machine.js';

export interface BatchItem {
  /** Unique within the batch; also the child actor's id. */
  id: string;
  input: SolveMachineInput;
}

/** A live child: its id and its top-level state. */
export interface RunningItem {
  id: string;
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
}

export interface BatchInput {
  items: BatchItem[];
  concurrency: number;
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
  /** The child settled (`viewOf(snapshot)` tells how), and was stopped: its final snapshot, results included. */
  | { type: 'itemSettled'; id: string; snapshot: SolveSnapshot };

const SNAPSHOT_PREFIX = 'xstate.snapshot.';
/** States in which a solve has sent nothing yet: cancelling it leaves nothing behind. */
const NOT_SENT = new Set(['idle', 'loggingIn']);

function childId(event: ChildSnapshotEvent): string {
  return event.type.slice(SNAPSHOT_PREFIX.length);
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
      while (running.length < context.concurrency && next < context.items.length) {
        const item = context.items[next++] as BatchItem;
        enqueue.spawnChild('solve', { id: item.id, input: item.input, syncSnapshot: true });
        enqueue.sendTo(item.id, { type: 'START' });
        enqueue.emit({ type: 'itemStarted', id: item.id });
        running.push({ id: item.id, stage: 'idle' });
      }
      enqueue.assign({ next, running });
    }),
    /** Announces the child's snapshot; a settled child is announced, stopped and forgotten. */
    follow: enqueueActions(({ context, event, enqueue }) => {
      const id = childId(event as ChildSnapshotEvent);
      const { snapshot } = event as ChildSnapshotEvent;
      const live = context.running.find((r) => r.id === id);
      if (!live) return;
      enqueue.emit({ type: 'itemUpdated', id, snapshot });
      if (!isSettled(snapshot)) {
        const stage = stageOf(snapshot);
        if (stage !== live.stage) enqueue.assign({ running: context.running.map((r) => (r.id === id ? { id, stage } : r)) });
        return;
      }
      enqueue.emit({ type: 'itemSettled', id, snapshot });
      enqueue.stopChild(id);
      enqueue.assign({
        running: context.running.filter((r) => r.id !== id),
        // A count, not a list: copying a growing list per item would make a batch O(N^2).
        settledCount: context.settledCount + 1,
      });
    }),
    /** What the drain waits for: every running solve settled (default), or only their uploads. */
    setDrainUntil: assign({ drainUntil: ({ event }) => (event as Extract<BatchEvent, { type: 'DRAIN' }>).until ?? 'settled' }),
    cancelUnsent: enqueueActions(({ context, enqueue }) => {
      for (const r of context.running) if (NOT_SENT.has(r.stage)) enqueue.sendTo(r.id, { type: 'CANCEL', reason: 'The batch was stopped before this input was sent.' });
    }),
    cancelRunning: enqueueActions(({ context, event, enqueue }) => {
      const reason = (event as { reason?: string }).reason ?? 'The batch was cancelled.';
      for (const r of context.running) enqueue.sendTo(r.id, { type: 'CANCEL', reason });
    }),
  },
}).createMachine({
  id: 'batch',
  context: ({ input }) => ({
    items: input.items,
    next: 0,
    running: [],
    concurrency: Math.max(1, input.concurrency),
    settledCount: 0,
    drainUntil: 'settled',
  }),
  initial: 'running',
  on: {
    'xstate.snapshot.*': { actions: 'follow' },
  },
  states: {
    running: {
      entry: 'fillPool',
      always: { guard: 'allSettled', target: 'done' },
      on: {
        'xstate.snapshot.*': { actions: ['follow', 'fillPool'] },
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
