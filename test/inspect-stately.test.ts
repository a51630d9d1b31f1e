/**
 * Any inspector of `@statelyai/inspect` (createBrowserInspector, createWebSocketInspector) given
 * to a Client: it reads an actor's snapshot for its registration event itself, later, with
 * `actorRef.getSnapshot()`, past sanitizedInspector. A result actor that has already resolved
 * by then would hand it the downloaded file's bytes, unless sanitizedInspector also cleans what
 * `actorRef.getSnapshot()` returns for `@xstate.actor` events.
 */
import { createInspector } from '@statelyai/inspect';
import { expect, test } from 'vitest';
import { Client } from '../src/client/client.js';
import { API_KEY, SESSION, fakeNova } from './helpers/fake-nova.js';

test('an @statelyai/inspect inspector gets no file bytes and no key, registrations included', async () => {
  const sent: unknown[] = [];
  const inspector = createInspector({ send: (e) => void sent.push(e) });
  const client = new Client({
    apiKey: API_KEY,
    apiUrl: 'http://127.0.0.1:9/api/',
    transport: fakeNova(),
    polling: { minIntervalMs: 0, maxIntervalMs: 2 },
    inspect: inspector.inspect,
  });
  const result = await client.solve({ bytes: new TextEncoder().encode('image bytes'), filename: 'x.fits' });
  const wcs = await result.wcsFile();
  // The inspector converts each event on a timer.
  await new Promise((r) => setTimeout(r, 50));
  expect(sent.filter((e) => (e as { type: string; name?: string }).type === '@xstate.actor').map((e) => (e as { name: string }).name)).toContain('fetchResult');
  const text = JSON.stringify(sent, (_k, v: unknown) => (v instanceof Uint8Array ? '<<Uint8Array>>' : v));
  expect(text).toContain(`[${wcs.bytes.byteLength} bytes]`);
  expect(text).not.toContain(API_KEY);
  expect(text).not.toContain(SESSION);
  expect(text).not.toContain('<<Uint8Array>>');
});
