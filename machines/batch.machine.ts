/**
 * Many solves in one process, with a bounded number alive at once.
 *
 *   running ──(every item settled, or DRAIN and the running ones settled)──▶ done
 *
 * Each item is a child solve machine, spawned when a slot is free and stopped as soon as it
 * settles, so 10 000 queued files cost O(N): xstate spawning is O(live children), and there are
 * never more than `concurrency` of them. A settled item is announced with an emitted
 * `itemSettled` event that carries the child's final context (results included) for the
 * consumer to write out; the batch's own context keeps only a count.
 */
import { assign, enqueueActions, setup, type ActorRefFrom } from 'xstate';
import type { SerializedError } from '../src/errors.js';
import type { Calibration } from '../src/models.js';
import { solveMachine, type SolveContext, type SolveMachineInput, type SolveSettledEvent } from './solve.machine.js';

export interface BatchItem {
  /** Unique within the batch; also the child actor's id. */
  id: string;
  /** The solve's input (its `batchItemId` is set by the batch). */
  input: SolveMachineInput;
}

export interface BatchItemSummary {
  id: string;
  outcome: 'success' | 'failure';
  subid: number | null;
  jobId: number | null;
  calibration: Calibration | null;
  error: SerializedError | null;
}

export interface BatchContext {
  items: BatchItem[];
  /** Index of the next item to start: items before it were started. */
  next: number;
  /** Ids of the live children. */
  running: string[];
  concurrency: number;
  /** How many items settled; their summaries went out in `itemSettled` events. */
  settledCount: number;
  /** Set by DRAIN: no new item starts; the batch ends when the running ones settle. */
  draining: boolean;
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

export type BatchEvent = SolveSettledEvent | { type: 'DRAIN' } | { type: 'CANCEL' };

export type BatchEmitted =
  /** The child is then `snapshot.children[id]`. */
  | { type: 'itemStarted'; id: string }
  | { type: 'itemSettled'; id: string; summary: BatchItemSummary; context: SolveContext };

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
    allSettled: ({ context }) => (context.draining || context.next >= context.items.length) && context.running.length === 0,
  },
  actions: {
    fillPool: enqueueActions(({ context, enqueue }) => {
      let next = context.next;
      const running = [...context.running];
      while (!context.draining && running.length < context.concurrency && next < context.items.length) {
        const item = context.items[next++] as BatchItem;
        enqueue.spawnChild('solve', { id: item.id, input: { ...item.input, batchItemId: item.id } });
        enqueue.sendTo(item.id, { type: 'START' });
        enqueue.emit({ type: 'itemStarted', id: item.id });
        running.push(item.id);
      }
      enqueue.assign({ next, running });
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
    draining: false,
  }),
  initial: 'running',
  states: {
    running: {
      entry: 'fillPool',
      always: { guard: 'allSettled', target: 'done' },
      on: {
        SOLVE_SETTLED: {
          guard: ({ context, event }) => context.running.includes(event.itemId),
          actions: [
            enqueueActions(({ context, event, enqueue, self }) => {
              const child = self.getSnapshot().children[event.itemId] as ActorRefFrom<typeof solveMachine> | undefined;
              const solved = child?.getSnapshot().context;
              if (!solved) return;
              const summary: BatchItemSummary = {
                id: event.itemId,
                outcome: solved.error === null ? 'success' : 'failure',
                subid: solved.subid,
                jobId: solved.jobId,
                calibration: solved.results.calibration ?? null,
                error: solved.error,
              };
              enqueue.emit({ type: 'itemSettled', id: event.itemId, summary, context: solved });
              enqueue.stopChild(event.itemId);
              enqueue.assign({
                running: context.running.filter((id) => id !== event.itemId),
                // A count, not a list: copying a growing list per item would make a batch O(N^2).
                settledCount: context.settledCount + 1,
              });
            }),
            'fillPool',
          ],
        },
        // Finish what is running (each keeps its submission), start nothing new: a clean stop.
        DRAIN: { actions: assign({ draining: true }) },
        CANCEL: {
          target: 'done',
          actions: enqueueActions(({ context, enqueue }) => {
            for (const id of context.running) enqueue.sendTo(id, { type: 'CANCEL', reason: 'The batch was cancelled.' });
          }),
        },
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ settled: context.settledCount, notStarted: context.items.slice(context.next).map((i) => i.id) }),
});

export type BatchActor = ActorRefFrom<typeof batchMachine>;
