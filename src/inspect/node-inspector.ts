/**
 * The Stately inspector for solves running in Node: `createNodeInspector()` starts a small
 * server on 127.0.0.1 and returns an `inspect` observer for `new Client({ inspect })` and the
 * URL of a page that shows the Stately inspector (https://stately.ai/inspect) fed live from this
 * process.
 *
 * How it works: `@statelyai/inspect` (an optional peer dependency, loaded only here) turns XState
 * inspection events into the Stately inspector's protocol, the same events its
 * `createWebSocketInspector` sends. They go out as JSON over a WebSocket to every open page; the
 * page embeds the inspector in an iframe and forwards each event to it with `postMessage`, as
 * `@statelyai/inspect/server` does. A page opened late first gets the recent events replayed.
 *
 * What leaves the process: every event passes through {@link sanitizedInspector} (file bytes
 * become `[N bytes]`, anything shaped like a key is masked) and, just before it is sent, through
 * one more pass over the converted event: the inspector's actor registrations carry the actor's
 * live snapshot, which the first pass never sees. Only the state value, context, status, output
 * and error of a snapshot are sent. The server listens on 127.0.0.1 only, and both the page and
 * its WebSocket sit behind a random path, so another page in the browser or another user of the
 * machine cannot read the stream.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type { InspectionEvent } from 'xstate';
import { sanitizedInspector, sanitizeForInspection } from './sanitize.js';
import { answerPage, listenOn, notFound, secretBase } from './serve-page.js';

export interface NodeInspectorOptions {
  /** Port of the inspector's server. Default 0: any free port (the URL says which). */
  port?: number;
  /**
   * Address to listen on. Default `127.0.0.1`, this machine only. Anything else exposes the
   * (sanitized) stream to whoever can reach the address and learns the URL.
   */
  host?: string;
  /** The inspector page to embed. Default `https://stately.ai/inspect`. */
  inspectorUrl?: string;
  /**
   * How many recent events a page opened late is sent first (default 2000). Registrations of
   * actors still running are kept apart from this limit, so a late page still knows them.
   */
  replay?: number;
}

export interface NodeInspector {
  /**
   * The observer to pass as `new Client({ inspect })`, `new Session({ inspect })` or
   * `createActor(machine, { inspect })`. It sanitizes every event itself too.
   */
  inspect: (event: InspectionEvent) => void;
  /** The page a person opens in a browser to watch the statecharts, e.g. `http://127.0.0.1:PORT/<random>/`. */
  url: string;
  /**
   * The WebSocket that page reads: one Stately inspection event per message, as JSON (for
   * `createWebSocketReceiver({ server })` of `@statelyai/inspect`, or a recorder of your own).
   */
  webSocketUrl: string;
  /** Sends what is still queued, closes every page's connection and the server. */
  stop(): Promise<void>;
}

/** A Stately inspection event, as `@statelyai/inspect` makes them. */
type StatelyEvent = { type: string; sessionId?: string; snapshot?: unknown; event?: unknown; [key: string]: unknown };

// The few parts of the `ws` package used here (its types are not a dependency).
interface WsSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}
interface WsServer {
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: WsSocket) => void): void;
  close(): void;
}
interface WsModule {
  WebSocketServer: new (options: { noServer: true; maxPayload: number }) => WsServer;
}

const OPEN = 1;
const DEFAULT_INSPECTOR_URL = 'https://stately.ai/inspect';
/** A page that reads this much slower than events come is dropped rather than buffered without end. */
const MAX_BUFFERED = 32 * 1024 * 1024;
/** Registrations kept for late pages beyond the replayed events (the oldest go first). */
const MAX_LIVE_ACTORS = 1000;

async function loadStately(): Promise<{ stately: typeof import('@statelyai/inspect'); ws: WsModule }> {
  let stately: typeof import('@statelyai/inspect');
  try {
    stately = await import('@statelyai/inspect');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error('The Node inspector needs the optional package @statelyai/inspect: npm install @statelyai/inspect', { cause: error });
    }
    throw error;
  }
  // The WebSocket server comes from the `ws` that @statelyai/inspect itself depends on,
  // resolved from where that package is installed.
  const here = createRequire(import.meta.url);
  const ws = createRequire(here.resolve('@statelyai/inspect'))('ws') as WsModule;
  return { stately, ws };
}

/** The parts of a snapshot the inspector shows; never the machine, the children or anything else. */
function plainSnapshot(snapshot: unknown): unknown {
  if (snapshot === null || typeof snapshot !== 'object') return snapshot;
  const s = snapshot as Record<string, unknown>;
  return { value: s.value, context: s.context, status: s.status, output: s.output, error: s.error };
}

/** The last pass over an event before it leaves the process. */
function sanitizeStatelyEvent<T extends StatelyEvent>(event: T): T {
  const copy: Record<string, unknown> = { ...event };
  if ('snapshot' in copy) copy.snapshot = plainSnapshot(copy.snapshot);
  return sanitizeForInspection(copy) as T;
}

function bridgePage(inspectorUrl: string, socketPath: string): string {
  // Embedded as JSON, with `<` escaped so no value can close the script element.
  const config = JSON.stringify({ inspectorUrl, socketPath }).replace(/</g, '\\u003c');
  const src = inspectorUrl.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>astrometry-net-client · Stately inspector</title>
<style>html,body{height:100%;margin:0}iframe{display:block;width:100%;height:100%;border:0}</style>
</head>
<body>
<iframe id="inspector" src="${src}" title="Stately inspector"></iframe>
<script>
const config = ${config};
const iframe = document.getElementById('inspector');
const pending = [];
let connected = false;
const forward = (event) => iframe.contentWindow.postMessage(event, '*');
// The inspector announces itself once it listens; events wait until then.
window.addEventListener('message', (e) => {
  if (e.source !== iframe.contentWindow || !e.data || e.data.type !== '@statelyai.connected') return;
  connected = true;
  pending.splice(0).forEach(forward);
});
const title = document.title;
const socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + config.socketPath);
socket.onopen = () => { document.title = title + ' (live)'; };
socket.onclose = () => { document.title = title + ' (the process has finished)'; };
socket.onmessage = (m) => {
  const event = JSON.parse(m.data);
  if (connected) forward(event);
  else pending.push(event);
};
</script>
</body>
</html>
`;
}

/**
 * Starts the inspector's server and returns the observer and the URL to open. Needs the optional
 * package `@statelyai/inspect`. Call `stop()` when done: the server keeps the process alive.
 */
export async function createNodeInspector(options: NodeInspectorOptions = {}): Promise<NodeInspector> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be an integer from 0 to 65535 (got ${port})`);
  const host = options.host ?? '127.0.0.1';
  const inspectorUrl = options.inspectorUrl ?? DEFAULT_INSPECTOR_URL;
  const parsedInspectorUrl = new URL(inspectorUrl);
  if (parsedInspectorUrl.protocol !== 'https:' && parsedInspectorUrl.protocol !== 'http:') {
    throw new TypeError(`inspectorUrl must be an http(s) URL (got ${inspectorUrl})`);
  }
  const replay = options.replay ?? 2000;
  if (!Number.isInteger(replay) || replay < 0) throw new RangeError(`replay must be an integer >= 0 (got ${replay})`);

  const { stately, ws } = await loadStately();

  const base = secretBase();
  const socketPath = `${base}events`;
  const page = bridgePage(inspectorUrl, socketPath);

  const viewers = new Set<WsSocket>();
  /** The last `replay` messages, oldest first. */
  const recent: string[] = [];
  /** Registrations of actors that have not stopped yet, by session id. */
  const liveActors = new Map<string, string>();
  let stopped = false;

  const broadcast = (event: StatelyEvent) => {
    if (stopped) return;
    const clean = sanitizeStatelyEvent(event);
    const message = JSON.stringify(clean);
    const id = clean.sessionId;
    if (clean.type === '@xstate.actor' && id) {
      liveActors.set(id, message);
      // Actors that never stop (a solve waiting in `success`) must not pile up without end.
      if (liveActors.size > MAX_LIVE_ACTORS) liveActors.delete(liveActors.keys().next().value as string);
    }
    const status = (clean.snapshot as { status?: unknown } | undefined)?.status;
    if (clean.type === '@xstate.snapshot' && id && status !== undefined && status !== 'active') liveActors.delete(id);
    if (replay > 0) {
      recent.push(message);
      if (recent.length > replay) recent.shift();
    }
    for (const viewer of viewers) send(viewer, message);
  };

  const send = (viewer: WsSocket, message: string) => {
    if (viewer.readyState !== OPEN) return;
    if (viewer.bufferedAmount > MAX_BUFFERED) {
      viewers.delete(viewer);
      viewer.terminate();
      return;
    }
    viewer.send(message);
  };

  const inspector = stately.createInspector({ send: (event) => broadcast(event as unknown as StatelyEvent) });
  const inspect = sanitizedInspector(inspector.inspect);

  const wss = new ws.WebSocketServer({ noServer: true, maxPayload: 4096 });
  const server = createServer((req, res) => {
    if (!answerPage(req, res, base, page)) notFound(res);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== socketPath || stopped) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (viewer) => {
      viewer.on('error', () => viewers.delete(viewer));
      viewer.on('close', () => viewers.delete(viewer));
      const replayed = new Set(recent);
      for (const message of liveActors.values()) if (!replayed.has(message)) send(viewer, message);
      for (const message of recent) send(viewer, message);
      viewers.add(viewer);
    });
  });

  const origin = await listenOn(server, port, host);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Events are converted on a timer (one per event); let the queued ones through first.
      await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setImmediate(resolve));
      stopped = true;
      inspector.stop();
      // A close frame follows the data already queued, so each page gets every event.
      const closed = [...viewers].map(
        (viewer) =>
          new Promise<void>((resolve) => {
            if (viewer.readyState > OPEN) return resolve();
            const timer = setTimeout(() => {
              viewer.terminate();
              resolve();
            }, 2000);
            timer.unref();
            viewer.on('close', () => {
              clearTimeout(timer);
              resolve();
            });
            viewer.close(1001, 'The process has finished.');
          }),
      );
      await Promise.all(closed);
      viewers.clear();
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A page's idle keep-alive connection would hold the server open.
        server.closeAllConnections();
      });
    })());

  return {
    inspect,
    url: `http://${origin}${base}`,
    webSocketUrl: `ws://${origin}${socketPath}`,
    stop,
  };
}
