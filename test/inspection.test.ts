import { describe, expect, test } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { Client } from '../src/client/client.js';
import { sanitizeForInspection } from '../src/inspect/sanitize.js';
import { API_KEY, SESSION, fakeNova, json } from './helpers/fake-nova.js';

function containsBytes(value: unknown, seen = new Set<unknown>()): boolean {
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return true;
  if (value === null || typeof value !== 'object' || seen.has(value)) return false;
  seen.add(value);
  return Object.values(value).some((v) => containsBytes(v, seen));
}

describe('inspection', () => {
  test('no inspection event carries the API key, the session key or file bytes', async () => {
    const events: InspectionEvent[] = [];
    // The server quotes the session key back in an error: the re-login path must not leak it either.
    let uploads = 0;
    const transport = fakeNova({}, {
      upload: () =>
        uploads++ === 0
          ? json({ status: 'error', errormessage: `no session with key "${SESSION}"` })
          : json({ status: 'success', subid: 5, hash: 'b'.repeat(40) }),
    });
    const client = new Client({
      apiKey: API_KEY,
      apiUrl: 'http://127.0.0.1:9/api/',
      transport,
      polling: { minIntervalMs: 0, maxIntervalMs: 2 },
      inspect: (e) => events.push(e),
    });
    const bytes = new TextEncoder().encode(`image bytes ${API_KEY}`);
    const result = await client.solve({ bytes, filename: 'x.fits' });
    const wcs = await result.wcsFile();
    expect(wcs.bytes.byteLength).toBeGreaterThan(0);
    expect(transport.requests.filter((r) => r.path === '/api/upload')).toHaveLength(2);

    expect(events.length).toBeGreaterThan(10);
    const text = JSON.stringify(events.map((e) => {
      const { actorRef: _a, sourceRef: _s, ...rest } = e as InspectionEvent & { sourceRef?: unknown };
      return rest;
    }));
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain(SESSION);
    for (const e of events) {
      const { actorRef: _a, sourceRef: _s, ...rest } = e as InspectionEvent & { sourceRef?: unknown };
      expect(containsBytes(rest) ? `${e.type} ${Object.keys(rest)}` : false).toBe(false);
    }
    // The download did reach the inspector, as a size.
    expect(text).toMatch(/\[\d+ bytes\]/);
  });

  test('sanitizeForInspection summarises bytes and masks keys but keeps ordinary data', () => {
    expect(
      sanitizeForInspection({ file: new Uint8Array(7), note: `key ${SESSION}`, n: 3, list: ['wcs', 1], nested: { fn: () => 1 } }),
    ).toEqual({ file: '[7 bytes]', note: 'key [redacted]', n: 3, list: ['wcs', 1], nested: {} });
  });

  test("a child's snapshot inside a batch event is reduced to its data, not its machine", async () => {
    const { createActor } = await import('xstate');
    const { solveMachine } = await import('../machines/solve.machine.js');
    const { defaultPollSchedule } = await import('../src/tasks/polling.js');
    const snapshot = createActor(solveMachine, { input: { upload: { kind: 'url', url: 'http://example.org/a.png' }, options: {}, schedule: defaultPollSchedule('http://example.org/api/') } }).getSnapshot();
    const clean = sanitizeForInspection({ type: 'xstate.snapshot.item-0', snapshot }) as { snapshot: Record<string, unknown> };
    expect(Object.keys(clean.snapshot).sort()).toEqual(['context', 'status', 'value']);
    expect(clean.snapshot.value).toBe('idle');
  });
});
