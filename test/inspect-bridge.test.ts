/**
 * The page createNodeInspector serves, in a real browser (chromium via playwright-core): it
 * embeds the inspector page in an iframe and forwards the events of its WebSocket with
 * postMessage once the inspector announces itself, as the Stately inspector expects. The
 * inspector here is a stand-in on another origin that does what `createBrowserReceiver` of
 * `@statelyai/inspect` does (the real one is https://stately.ai/inspect).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createActor, setup } from 'xstate';
import { createNodeInspector } from '../src/inspect/node-inspector.js';
import { launchChromium } from './helpers/browser.js';

// What createBrowserReceiver does: tell the window that embeds it that it listens, then take
// every message shaped like a Stately inspection event.
const RECEIVER = `<!DOCTYPE html><html><body><script>
window.received = [];
window.addEventListener('message', (e) => {
  if (e.data && typeof e.data.type === 'string' && typeof e.data._version === 'string') window.received.push(e.data);
});
(window.self === window.top ? window.opener : window.parent).postMessage({ type: '@statelyai.connected' }, '*');
</script></body></html>`;

let stand: Server;
let standUrl: string;
let browser: Browser;

beforeAll(async () => {
  stand = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(RECEIVER));
  await new Promise<void>((resolve) => stand.listen(0, '127.0.0.1', resolve));
  standUrl = `http://127.0.0.1:${(stand.address() as AddressInfo).port}/inspect`;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => stand?.close(resolve));
});

const toggle = setup({}).createMachine({
  id: 'toggle',
  initial: 'off',
  states: { off: { on: { FLIP: 'on' } }, on: { on: { FLIP: 'off' } } },
});

describe('the inspector page', () => {
  test('forwards every event to the embedded inspector, replaying those from before it was opened', async () => {
    const inspector = await createNodeInspector({ inspectorUrl: standUrl });
    const page = await browser.newPage();
    try {
      const actor = createActor(toggle, { inspect: inspector.inspect });
      actor.start();
      actor.send({ type: 'FLIP' }); // before the page is open: replayed
      await new Promise((r) => setTimeout(r, 50));

      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(inspector.url);
      const frame = page.frameLocator('#inspector');
      await expect.poll(() => frame.locator('body').evaluate(() => (window as unknown as { received: unknown[] }).received.length)).toBeGreaterThanOrEqual(4);
      expect(await page.title()).toMatch(/\(live\)$/);

      actor.send({ type: 'FLIP' }); // while it is open: live
      const values = () =>
        frame
          .locator('body')
          .evaluate(() =>
            (window as unknown as { received: { type: string; snapshot?: { value?: unknown } }[] }).received
              .filter((e) => e.type === '@xstate.snapshot')
              .map((e) => e.snapshot?.value),
          );
      await expect.poll(values).toEqual(['off', 'on', 'off']);
      const types = await frame.locator('body').evaluate(() => (window as unknown as { received: { type: string }[] }).received.map((e) => e.type));
      expect(types[0]).toBe('@xstate.actor');
      expect(types).toContain('@xstate.event');

      await inspector.stop();
      await expect.poll(() => page.title()).toMatch(/the process has finished/);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await inspector.stop();
    }
  });
});
