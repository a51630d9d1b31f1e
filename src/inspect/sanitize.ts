/**
 * Inspection that is safe to leave on: every event a machine sends to an inspector (the Stately
 * inspector, a logger, devtools) passes through here first. Byte arrays and Blobs become a short
 * `[N bytes]` note, so a downloaded FITS file never crosses a WebSocket; strings that look like
 * an API or session key are masked, as a second line behind keeping secrets out of context.
 */
import type { InspectionEvent, Observer } from 'xstate';
import { redact } from '../errors.js';

export type InspectObserver = ((event: InspectionEvent) => void) | Observer<InspectionEvent>;

const MAX_DEPTH = 12;

/** A copy of `value` with bytes summarised and secrets masked. */
export function sanitizeForInspection(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? undefined : value;
  if (depth > MAX_DEPTH) return '[…]';
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  if (typeof Blob !== 'undefined' && value instanceof Blob) return `[Blob ${value.size} bytes]`;
  if (value instanceof Error) {
    const json = (value as { toJSON?: () => unknown }).toJSON?.();
    return json ?? { name: value.name, message: redact(value.message) };
  }
  // An actor ref is shown by its id: its internals hold the runtime (and the session keeper).
  if ('sessionId' in value && 'send' in value && typeof (value as { send: unknown }).send === 'function') {
    return { actorId: (value as { id?: string }).id };
  }
  // A machine snapshot inside an event (a batch's `xstate.snapshot.<id>` from a child): its data
  // only. Its `machine` is the whole definition, a graph that would be walked on every event.
  if ('machine' in value && 'value' in value && 'context' in value) return plainSnapshot(value);
  if (Array.isArray(value)) return value.map((v) => sanitizeForInspection(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const clean = sanitizeForInspection(v, depth + 1);
    if (clean !== undefined) out[key] = clean;
  }
  return out;
}

function plainSnapshot(snapshot: unknown): unknown {
  const s = snapshot as { value?: unknown; context?: unknown; status?: unknown; output?: unknown; error?: unknown };
  return sanitizeForInspection({ value: s.value, context: s.context, status: s.status, output: s.output, error: s.error });
}

/** Wraps an inspector so that it only ever sees sanitized events. */
export function sanitizedInspector(target: InspectObserver): (event: InspectionEvent) => void {
  const deliver = typeof target === 'function' ? target : (e: InspectionEvent) => target.next?.(e);
  return (event) => {
    // Data travels in `snapshot`, `event` and an action's `params`; the rest (refs, the static
    // transition definitions of a microstep) holds no data and is passed through untouched.
    const clean: Record<string, unknown> = { ...event };
    if ('snapshot' in event) clean.snapshot = plainSnapshot(event.snapshot);
    if (event.type === '@xstate.actor') {
      // @statelyai/inspect reads a registered actor's snapshot itself, later, through the ref:
      // hand it a ref whose snapshot is cleaned too, or a finished download would leak its bytes.
      const ref = event.actorRef;
      clean.actorRef = Object.create(ref, { getSnapshot: { value: () => plainSnapshot(ref.getSnapshot()) } });
    }
    if ('event' in event) clean.event = sanitizeForInspection(event.event);
    if ('action' in event) {
      const action = event.action as { type?: unknown; params?: unknown };
      clean.action = { type: action.type, params: sanitizeForInspection(action.params) };
    }
    deliver(clean as unknown as InspectionEvent);
  };
}
