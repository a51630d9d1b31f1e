/**
 * An inspector that works offline (at a telescope, on a plane): `createOfflineInspector()` serves,
 * on 127.0.0.1, a page that draws each statechart from the machine definition itself and
 * highlights, live, the state every actor is in. Nothing is loaded from anywhere else: the page
 * is one HTML document with its script and style inline, fed by Server-Sent Events from this
 * process. (The Stately inspector, `createNodeInspector`, is the online alternative.)
 *
 * What leaves the process: for each machine, its static definition (state names, descriptions,
 * tags, transitions by event type); for each actor, its id, its machine's id, its state value
 * and its status. Never a context, an event's payload or an output, so no key, file byte or
 * result can reach the page. Page and stream sit behind a random path.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AnyActorRef, AnyStateMachine, AnyStateNode, InspectionEvent } from 'xstate';
import { offlinePage } from './offline-page.js';
import { answerPage, listenOn, notFound, secretBase } from './serve-page.js';

export interface OfflineInspectorOptions {
  /** Port to listen on. Default 0: any free port (the URL says which). */
  port?: number;
  /** Address to listen on. Default `127.0.0.1`, this machine only. */
  host?: string;
  /** Actors remembered for a page opened late (the most recent; default 1000). */
  keep?: number;
}

export interface OfflineInspector {
  /** The observer for `new Client({ inspect })`, `new Session({ inspect })` or `createActor(machine, { inspect })`. */
  inspect: (event: InspectionEvent) => void;
  /** The page to open in a browser. */
  url: string;
  /** Ends every page's stream and closes the server. */
  stop(): Promise<void>;
}

/** A state of a machine as the page draws it. */
export interface StateDrawing {
  key: string;
  /** Dotted path from the root, e.g. `jobRunning.waiting` (empty for the root). */
  path: string;
  type: string;
  description: string | null;
  tags: string[];
  initial: string | null;
  transitions: { event: string; targets: string[] }[];
  states: StateDrawing[];
}

export type OfflineMessage =
  | { type: 'machine'; machine: string; root: StateDrawing }
  | { type: 'actor'; sessionId: string; id: string; machine: string; parent: string | null; value: unknown; status: string };

function eventLabel(eventType: string): string {
  const done = /^xstate\.done\.actor\.(.+)$/.exec(eventType);
  if (done) return `${done[1]} done`;
  const error = /^xstate\.error\.actor\.(.+)$/.exec(eventType);
  if (error) return `${error[1]} error`;
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) return `after ${after[1]}`;
  return eventType;
}

/** The drawing of a machine, from its definition. */
export function drawMachine(machine: AnyStateMachine): StateDrawing {
  const pathOf = (node: AnyStateNode) => node.path.join('.');
  const walk = (node: AnyStateNode): StateDrawing => {
    const transitions: StateDrawing['transitions'] = [];
    for (const [eventType, list] of node.transitions) {
      const targets = [...new Set(list.flatMap((t) => (t.target ?? []).map((n) => pathOf(n as AnyStateNode))))];
      if (targets.length > 0) transitions.push({ event: eventLabel(eventType), targets });
    }
    const always = [...new Set((node.always ?? []).flatMap((t) => (t.target ?? []).map((n) => pathOf(n as AnyStateNode))))];
    if (always.length > 0) transitions.push({ event: 'always', targets: always });
    const initial = node.initial?.target?.[0] as AnyStateNode | undefined;
    return {
      key: node.key,
      path: pathOf(node),
      type: node.type,
      description: node.description ?? null,
      tags: [...(node.tags ?? [])],
      initial: initial ? pathOf(initial) : null,
      transitions,
      states: (Object.values(node.states) as AnyStateNode[]).map(walk),
    };
  };
  return walk(machine.root);
}

function machineOf(ref: AnyActorRef): AnyStateMachine | null {
  const logic = (ref as { logic?: unknown }).logic as AnyStateMachine | undefined;
  return logic && typeof logic === 'object' && 'root' in logic && 'id' in logic ? logic : null;
}

export async function createOfflineInspector(options: OfflineInspectorOptions = {}): Promise<OfflineInspector> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be an integer from 0 to 65535 (got ${port})`);
  const host = options.host ?? '127.0.0.1';
  const keep = options.keep ?? 1000;
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be an integer >= 1 (got ${keep})`);

  const base = secretBase();
  const streamPath = `${base}events`;
  const page = offlinePage(streamPath);
  const pages = new Set<ServerResponse>();
  /** Machine drawings by machine id, sent once to each page. */
  const machines = new Map<string, string>();
  /** The latest message of each actor (the most recent `keep`), for pages opened late. */
  const latest = new Map<string, string>();
  let stopped = false;

  const broadcast = (message: OfflineMessage) => {
    if (stopped) return;
    const text = JSON.stringify(message);
    if (message.type === 'machine') machines.set(message.machine, text);
    else {
      latest.delete(message.sessionId);
      latest.set(message.sessionId, text);
      if (latest.size > keep) latest.delete(latest.keys().next().value as string);
    }
    for (const res of pages) res.write(`data: ${text}\n\n`);
  };

  /** Actors by session id: their machine's id and their parent's session id. */
  const known = new Map<string, { id: string; machine: string; parent: string | null }>();
  const report = (ref: AnyActorRef, snapshot: { value?: unknown; status?: string } | undefined) => {
    const actor = known.get(ref.sessionId);
    if (!actor || !snapshot) return;
    broadcast({ type: 'actor', sessionId: ref.sessionId, ...actor, value: snapshot.value ?? null, status: String(snapshot.status ?? 'active') });
  };

  const inspect = (event: InspectionEvent) => {
    if (stopped) return;
    const ref = event.actorRef as AnyActorRef;
    if (event.type === '@xstate.actor') {
      const machine = machineOf(ref);
      // Promise and callback actors have no states to draw.
      if (!machine) return;
      if (!machines.has(machine.id)) broadcast({ type: 'machine', machine: machine.id, root: drawMachine(machine) });
      // Its parent is learned from the parent's snapshot, whose children name it (below).
      known.set(ref.sessionId, { id: ref.id, machine: machine.id, parent: null });
      let snapshot: { value?: unknown; status?: string } | undefined;
      try {
        snapshot = ref.getSnapshot() as typeof snapshot;
      } catch {
        // not initialised yet: its first snapshot event follows
      }
      report(ref, snapshot);
    } else if (event.type === '@xstate.snapshot') {
      const snapshot = event.snapshot as { value?: unknown; status?: string; children?: Record<string, AnyActorRef | undefined> };
      report(ref, snapshot);
      for (const child of Object.values(snapshot.children ?? {})) {
        const entry = child && known.get(child.sessionId);
        if (!child || !entry || entry.parent === ref.sessionId) continue;
        entry.parent = ref.sessionId;
        report(child, child.getSnapshot() as { value?: unknown; status?: string });
      }
      // A stopped or finished actor is drawn in its last state; its entry is no longer needed here.
      if (snapshot.status !== 'active') known.delete(ref.sessionId);
    }
  };

  const server = createServer((req, res) => {
    // Nothing from elsewhere: the page needs only itself and its stream.
    const csp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:";
    if (answerPage(req, res, base, page, { 'content-security-policy': csp })) return;
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === streamPath && !stopped) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      // A comment line sends the headers now, so the page knows it is connected.
      res.write(': connected\n\n');
      for (const text of machines.values()) res.write(`data: ${text}\n\n`);
      for (const text of latest.values()) res.write(`data: ${text}\n\n`);
      pages.add(res);
      req.on('close', () => pages.delete(res));
    } else {
      notFound(res);
    }
  });

  const origin = await listenOn(server, port, host);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      stopped = true;
      // The page keeps what it drew; `event: end` tells it the process has finished.
      for (const res of pages) res.end('event: end\ndata: {}\n\n');
      pages.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })());

  return { inspect, url: `http://${origin}${base}`, stop };
}
