/**
 * The one driver of machines/batch.machine.ts, used by `Client.solveMany` and the CLI's `solve`:
 * it starts the batch, turns its events into progress (one projection from snapshots, below),
 * and asks it to drain or stop. Stopping and draining are states of the machine; the driver only
 * sends the events.
 */
import { createActor, toPromise, type AnyActorRef, type InspectionEvent } from 'xstate';
import { batchMachine, type BatchActor, type BatchItem, type BatchOutput, type BatchSnapshot, type SettledSolve } from '../../machines/batch.machine.js';
import type { endingSolveMachine, SolveSnapshot } from '../../machines/solve.machine.js';
import type { MemoryStore, UploadDescriptor } from './solve-input.js';
import { stageOf, viewOf, type SolveStage, type SolveView, type SolveViewSource } from './solve-view.js';

/** Where one input's solve is, as a person or a journal wants it: its id and its view. */
export interface ItemProgress extends SolveView {
  /** The batch item's id. */
  id: string;
}

/** The batch as a whole. */
export interface BatchProgress {
  /** The batch machine's state: `running`, `draining`, `stopping` or `done`. */
  state: 'running' | 'draining' | 'stopping' | 'done';
  total: number;
  started: number;
  settled: number;
  /** Live solves and their top-level states (as `SolveView.stage`). */
  running: { id: string; stage: SolveStage }[];
  /** Live solves whose upload is under way. */
  uploading: number;
}

/** One solve of a batch: its id and `viewOf(snapshot)`. */
export function itemProgress(id: string, snapshot: SolveViewSource): ItemProgress {
  return { id, ...viewOf(snapshot) };
}

/** The batch's progress; the live solves' stages are read from their own snapshots. */
export function batchProgress(snapshot: BatchSnapshot): BatchProgress {
  const c = snapshot.context;
  const children = snapshot.children as Record<string, AnyActorRef | undefined>;
  const running = c.running.map(({ id, child, stage }) => {
    const live = children[child]?.getSnapshot() as SolveSnapshot | undefined;
    return { id, stage: live?.status === 'active' ? stageOf(live) : stage };
  });
  return {
    state: snapshot.value as BatchProgress['state'],
    total: c.items.length,
    started: c.next,
    settled: c.settledCount,
    running,
    uploading: running.filter((r) => r.stage === 'uploading').length,
  };
}

export interface DriveBatchOptions {
  items: BatchItem[];
  concurrency: number;
  /** Solve in order, one at a time, each item hinted by the solution before it (see BatchInput.sequence). */
  sequence?: { strict: boolean };
  /** The solve machine that ends once settled, with its runtime (`session.endingMachine`). */
  solve: typeof endingSolveMachine;
  inspect?: (event: InspectionEvent) => void;
  /**
   * Every snapshot of a live solve, projected, and the snapshot. Called synchronously, in the tick
   * it changes. Only a run given this (or `onProgress`) subscribes to its solves.
   */
  onItem?: (progress: ItemProgress, snapshot: SolveSnapshot) => void;
  /**
   * A solve settled: its view (`phase` is `success` or `failure`) and its final snapshot, whose
   * context holds every result (`results`, `resultErrors`) and the error as it was serialized.
   */
  onSettled?: (item: ItemProgress, snapshot: SettledSolve) => void;
  /** The batch's own progress, after every change (of the batch, or of one of its solves). */
  onProgress?: (progress: BatchProgress) => void;
  /**
   * The store holding the items' in-memory bytes (`session.memory`): each item's are freed once
   * it has settled or was never started. A solve frees its own once the server has them, but a
   * hinted one that failed keeps them for a blind retry, which a draining or stopping batch (or a
   * crashed child) never makes.
   */
  memory?: MemoryStore;
}

export interface BatchRun {
  readonly actor: BatchActor;
  /** Resolves once the batch is done (never rejects: a solve's failure is an outcome). */
  readonly done: Promise<BatchOutput>;
  progress(): BatchProgress;
  /** Start nothing new; see the machine's DRAIN. */
  drain(until?: 'settled' | 'uploaded'): void;
  /** Cancel the running solves; the batch ends once each has settled. */
  stop(reason?: string): void;
  /** Stops the actor at once, settled or not (a consumer that walked away). */
  abandon(): void;
}

export function driveBatch(options: DriveBatchOptions): BatchRun {
  const actor = createActor(batchMachine.provide({ actors: { solve: options.solve } }), {
    input: { items: options.items, concurrency: options.concurrency, ...(options.sequence ? { sequence: options.sequence } : {}) },
    ...(options.inspect ? { inspect: options.inspect } : {}),
  });
  const { onItem, onProgress } = options;
  if (onItem || onProgress) {
    // The batch does not follow its solves' every step: what shows them subscribes to each.
    const follow = (id: string, child: string) => {
      const ref = (actor.getSnapshot().children as Record<string, AnyActorRef | undefined>)[child];
      ref?.subscribe({
        next: (snapshot: SolveSnapshot) => {
          onItem?.(itemProgress(id, snapshot), snapshot);
          onProgress?.(batchProgress(actor.getSnapshot()));
        },
        error: () => undefined,
      });
    };
    actor.on('itemStarted', ({ id, child }) => follow(id, child));
    actor.on('itemRetrying', ({ id, child }) => follow(id, child));
  }
  if (options.onSettled) {
    const onSettled = options.onSettled;
    actor.on('itemSettled', ({ id, snapshot }) => onSettled(itemProgress(id, snapshot), snapshot));
  }
  const { memory } = options;
  if (memory) {
    const free = (upload: UploadDescriptor | undefined) => {
      if (upload?.kind === 'memory') memory.delete(upload.ref);
    };
    // Settled: no retry follows, so nothing will send these bytes again.
    actor.on('itemSettled', ({ snapshot }) => free(snapshot.context.upload ?? undefined));
    const items = new Map(options.items.map((item) => [item.id, item]));
    const freeUnstarted = (output: BatchOutput) => {
      for (const id of output.notStarted) free(items.get(id)?.input.upload);
    };
    toPromise(actor).then(freeUnstarted, () => undefined);
  }
  if (onProgress) {
    actor.subscribe({ next: (s) => onProgress(batchProgress(s)), error: () => undefined });
  }
  // A batch never fails on its own; an error here is a bug, reported through `done`.
  const done = toPromise(actor);
  actor.start();
  // Events are sent outside the caller's stack: a consumer may ask from inside a notification.
  const send = (event: Parameters<BatchActor['send']>[0]) => queueMicrotask(() => actor.send(event));
  return {
    actor,
    done,
    progress: () => batchProgress(actor.getSnapshot()),
    drain: (until = 'settled') => send({ type: 'DRAIN', until }),
    stop: (reason) => send(reason === undefined ? { type: 'CANCEL' } : { type: 'CANCEL', reason }),
    abandon: () => actor.stop(),
  };
}
