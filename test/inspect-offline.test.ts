/**
 * The offline inspector in a real browser (Debian's chromium, driven by playwright-core): the
 * page is opened before a solve starts, every request it makes is recorded (only its own origin
 * may be asked: the page must work with no network), and it must draw the solve machine from
 * its definition and mark the solve's state as it moves, up to `success`. A screenshot goes to
 * test-artifacts/.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { solveMachine } from '../machines/solve.machine.js';
import { Client } from '../src/client/client.js';
import { createOfflineInspector, drawMachine, type OfflineInspector, type StateDrawing } from '../src/inspect/offline-inspector.js';
import { startServer, type RunningServer } from 'astrometry-net-server';
import { launchChromium } from './helpers/browser.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const artifacts = join(root, 'test-artifacts');
const IMAGE = new URL('./fixtures/small.png', import.meta.url);
const FAST = { minIntervalMs: 10, maxIntervalMs: 60 };

let server: RunningServer;
let browser: Browser;
let inspector: OfflineInspector | undefined;

beforeAll(async () => {
  server = await startServer({ port: 0, solver: 'simulated', simulated: { ingestMs: 100, queueMs: 100, solveMs: 300 } });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await inspector?.stop();
  await browser?.close();
  await server?.close();
});

function paths(node: StateDrawing): string[] {
  return [node.path, ...node.states.flatMap(paths)];
}

describe('offline inspector', () => {
  test('the drawing is made from the machine definition: every state, with its transitions', () => {
    const drawing = drawMachine(solveMachine);
    const all = paths(drawing).filter((p) => p !== '');
    expect(all).toEqual(expect.arrayContaining(['idle', 'loggingIn', 'uploading', 'submissionPending', 'jobRunning', 'success', 'failure', 'success.fetchingResults', 'failure.fetchingResults']));
    expect(all.some((p) => p.startsWith('jobRunning.'))).toBe(true);
    const idle = drawing.states.find((s) => s.key === 'idle');
    expect(idle?.transitions.find((t) => t.event === 'CANCEL')?.targets).toEqual(['failure']);
    expect(drawing.states.find((s) => s.key === 'success')?.tags).toContain('settled');
    expect(drawing.initial).toBe('idle');
  });

  test('in chromium, with no network: the page draws the solve machine and follows a solve to success', async () => {
    inspector = await createOfflineInspector();
    const origin = new URL(inspector.url).origin;
    const page = await browser.newPage();
    const asked: string[] = [];
    page.on('request', (r) => asked.push(r.url()));
    // Anything not from the inspector's own origin fails, as it would offline.
    await page.route('**/*', (route) => (route.request().url().startsWith(origin) ? route.continue() : route.abort('internetdisconnected')));
    await page.goto(inspector.url);
    await page.waitForSelector('#status:text("live")');

    const client = new Client({ apiUrl: server.url, apiKey: server.apiKeys[0], polling: FAST, inspect: inspector.inspect });
    const solving = client.solve({ file: fileURLToPath(IMAGE) });
    // Mid-solve, some state of the solve machine is marked with the solve's chip.
    await page.waitForSelector('[data-machine="solve"] .state.active .chip');
    const result = await solving;
    expect(result.calibration.pixscale).toBeGreaterThan(0);

    const success = page.locator('[data-machine="solve"] .state[data-path="success"]');
    await success.locator('.chip').first().waitFor();
    expect(await success.getAttribute('class')).toContain('active');
    // Only the current state is marked: the solve has left uploading.
    expect(await page.locator('[data-machine="solve"] .state[data-path="uploading"].active').count()).toBe(0);
    // Every state of the machine is drawn.
    const drawn = await page.locator('[data-machine="solve"] .state').evaluateAll((boxes) => boxes.map((b) => (b as HTMLElement).dataset.path));
    expect(drawn).toEqual(expect.arrayContaining(paths(drawMachine(solveMachine)).filter((p) => p !== '')));
    // The actors table names the solve and its state.
    const rows = await page.locator('#actors tr').evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).innerText.replace(/\s+/g, ' ').trim()));
    expect(rows.some((row) => / solve success\.ready active$/.test(row))).toBe(true);

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'inspector-offline.png'), fullPage: true });
    expect(asked.filter((u) => !u.startsWith(origin))).toEqual([]);

    await inspector.stop();
    await page.waitForSelector('#status:text("the process has finished")');
    await page.close();
  }, 60_000);
});
