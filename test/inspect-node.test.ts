/**
 * The Node inspector for real: a solve against the in-repo nova server (simulated solver) with
 * `inspect` from createNodeInspector, watched through the inspector's own WebSocket by an
 * independent client (undici's), the way the inspector page in a browser receives it. Every
 * message that crosses the socket is checked: the solve's states are there, and the API key,
 * the session key and the bytes of the uploaded image and of the downloaded WCS file are not.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Client } from '../src/client/client.js';
import { createNodeInspector, type NodeInspector } from '../src/inspect/node-inspector.js';
import { startServer, type RunningServer } from 'astrometry-net-server';
import { leakedSessionKeys, sessionKeyHashes } from './helpers/session-keys.js';

const IMAGE = new URL('./fixtures/small.png', import.meta.url);
const FAST = { minIntervalMs: 10, maxIntervalMs: 60, jitter: 0.1 };

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ port: 0, solver: 'simulated', simulated: { ingestMs: 60, queueMs: 40, solveMs: 80 } });
});

afterAll(async () => {
  await server?.close();
});

interface Watcher {
  messages: string[];
  closed: Promise<void>;
}

/** Connects to the inspector's WebSocket as a viewer and keeps every message, raw. */
async function watch(url: string): Promise<Watcher> {
  const socket = new WebSocket(url);
  const messages: string[] = [];
  socket.addEventListener('message', (e) => {
    // Every message is text: anything else would be a binary frame, which the page cannot use.
    expect(typeof e.data).toBe('string');
    messages.push(e.data as string);
  });
  const closed = new Promise<void>((resolve) => socket.addEventListener('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve());
    socket.addEventListener('error', () => reject(new Error(`could not connect to ${url}`)));
  });
  return { messages, closed };
}

type Parsed = { type: string; sessionId: string; name?: string; definition?: string; snapshot?: { value?: unknown; status?: string; context?: Record<string, unknown> }; event?: { type?: string } };

/** Runs of 16+ byte-sized numbers, as a JSON array or as a typed array serialized as an object. */
const BYTE_ARRAY = /\[\s*(?:\d{1,3}\s*,\s*){15,}\d{1,3}\s*\]/;
const TYPED_ARRAY_OBJECT = /\{\s*"0"\s*:\s*\d{1,3}\s*,\s*"1"\s*:\s*\d{1,3}/;

describe('createNodeInspector', () => {
  test('a real solve reaches a WebSocket viewer in the Stately format, without the API key, the session key or file bytes', async () => {
    const inspector: NodeInspector = await createNodeInspector();
    expect(inspector.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32}\/$/);
    expect(inspector.webSocketUrl.startsWith(inspector.url.replace(/^http/, 'ws'))).toBe(true);
    let late: Watcher | undefined;
    let wcsText = '';
    const png = new Uint8Array(readFileSync(IMAGE));
    try {
      // The page a person opens: HTML that embeds the Stately inspector and reads the socket.
      const page = await fetch(inspector.url);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      const html = await page.text();
      expect(html).toContain('src="https://stately.ai/inspect"');
      expect(html).toContain(new URL(inspector.webSocketUrl).pathname);
      // Anything but that path is refused: another page or user cannot guess the stream's address.
      const port = new URL(inspector.url).port;
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
      await expect(watch(`ws://127.0.0.1:${port}/events`)).rejects.toThrow();

      const viewer = await watch(inspector.webSocketUrl);
      const client = new Client({ apiUrl: server.url, apiKey: server.apiKeys[0], polling: FAST, inspect: inspector.inspect });
      // From bytes, so the image itself is in the process and could leak.
      const result = await client.solve({ bytes: png, filename: 'small.png' });
      const wcs = await result.wcsFile();
      wcsText = new TextDecoder('latin1').decode(wcs.bytes);
      expect(wcsText.startsWith('SIMPLE  =')).toBe(true);
      // Another page opened after the solve still gets what happened (replayed).
      late = await watch(inspector.webSocketUrl);
      await inspector.stop();
      await Promise.all([viewer.closed, late.closed]);

      const { messages } = viewer;
      expect(messages.length).toBeGreaterThan(10);
      const events = messages.map((m) => JSON.parse(m) as Parsed);
      for (const e of events) {
        expect(['@xstate.actor', '@xstate.snapshot', '@xstate.event']).toContain(e.type);
        expect(typeof e.sessionId).toBe('string');
      }
      // The solve machine was registered, with its definition, and its states came through.
      const solveActor = events.find((e) => e.type === '@xstate.actor' && e.definition?.includes('uploading'));
      expect(solveActor).toBeDefined();
      const states = events
        .filter((e) => e.type === '@xstate.snapshot' && e.sessionId === solveActor?.sessionId)
        .map((e) => JSON.stringify(e.snapshot?.value));
      expect(states).toContain('"loggingIn"');
      expect(states).toContain('"uploading"');
      expect(states).toContain('{"success":"ready"}');
      expect(states.some((s) => s.includes('submissionPending'))).toBe(true);
      expect(states.some((s) => s.includes('jobRunning'))).toBe(true);
      expect(events.some((e) => e.type === '@xstate.event' && e.event?.type === 'START')).toBe(true);
      // The WCS download reached the inspector, as a size only.
      expect(messages.some((m) => m.includes(`[${wcs.bytes.byteLength} bytes]`))).toBe(true);
      // The late page got the solve's registration and its end.
      expect(late.messages.length).toBeGreaterThan(10);
      expect(late.messages).toContain(messages.find((m) => m.includes('"@xstate.actor"') && m.includes(solveActor?.sessionId as string)));

      const sessionHashes = sessionKeyHashes(server.dataDir);
      expect(sessionHashes.size).toBeGreaterThan(0);
      expect(leakedSessionKeys(sessionHashes, [...messages, ...late.messages])).toEqual([]);
      const apiKey = server.apiKeys[0] as string;
      const pngBase64 = Buffer.from(png.subarray(0, 24)).toString('base64').slice(0, 24);
      const wcsCard = wcsText.slice(80, 160);
      for (const m of [...messages, ...late.messages]) {
        expect(m).not.toContain(apiKey);
        expect(m).not.toContain('SIMPLE  =');
        expect(m).not.toContain(wcsCard);
        expect(m).not.toContain('PNG\\r\\n');
        expect(m).not.toContain(pngBase64);
        expect(m).not.toContain('"Buffer"');
        expect(m).not.toMatch(BYTE_ARRAY);
        expect(m).not.toMatch(TYPED_ARRAY_OBJECT);
      }
    } finally {
      await inspector.stop();
    }
    // Stopped for good: the port is closed.
    await expect(fetch(inspector.url)).rejects.toThrow();
  });

  test('an actor given the observer directly is sanitized too, including the snapshot its registration carries', async () => {
    const { createActor, setup, assign } = await import('xstate');
    const secret = 'abcdefghijklmnopqrstuvwxyz012345';
    const machine = setup({ types: { context: {} as { file: Uint8Array; note: string } } }).createMachine({
      id: 'holder',
      context: { file: new TextEncoder().encode('SIMPLE  = T raw file'), note: `session ${secret}` },
      initial: 'a',
      states: { a: { on: { GO: { target: 'b', actions: assign({ note: () => `still ${secret}` }) } } }, b: {} },
    });
    const inspector = await createNodeInspector();
    try {
      const viewer = await watch(inspector.webSocketUrl);
      const actor = createActor(machine, { inspect: inspector.inspect });
      actor.start();
      actor.send({ type: 'GO' });
      await inspector.stop();
      await viewer.closed;
      const text = viewer.messages.join('\n');
      expect(viewer.messages.some((m) => m.includes('"@xstate.actor"'))).toBe(true);
      expect(text).toContain('"b"');
      expect(text).toContain('[20 bytes]');
      expect(text).not.toContain(secret);
      expect(text).not.toContain('SIMPLE  =');
      expect(text).not.toMatch(TYPED_ARRAY_OBJECT);
    } finally {
      await inspector.stop();
    }
  });

  test('a port in use is an error, not a crash', async () => {
    const first = await createNodeInspector();
    try {
      const port = Number(new URL(first.url).port);
      await expect(createNodeInspector({ port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.stop();
    }
  });
});
