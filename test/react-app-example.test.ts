/**
 * examples/react-app in a real browser (Debian's chromium via playwright-core) against the
 * embedded server with the real solver: `useMachine(appMachine)`, whose `solving` state invokes
 * `createSolveLogic(client)`. A user picks an image, sees both the app's and the child's states, gets
 * the calibration, and solves again with RETRY.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { RunningServer } from 'astrometry-net-server';
import { startExample, type ExampleRig } from './helpers/browser.js';


const root = fileURLToPath(new URL('..', import.meta.url));
const exampleDir = join(root, 'examples/react-app');
const fixture = join(root, 'test/fixtures/small.png');
const truth = JSON.parse(readFileSync(join(root, 'test/fixtures/small.truth.json'), 'utf8')) as { ra: number; dec: number };
let rig: ExampleRig;
let api: RunningServer;
let browser: Browser;

beforeAll(async () => {
  rig = await startExample(exampleDir);
  ({ api, browser } = rig);
}, 120_000);

afterAll(() => rig?.close());

test('useMachine(appMachine): picking → solving (the child uploading, polling) → showing → RETRY → solving → showing', async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const seen = { app: new Set<string>(), solve: new Set<string>() };
  await page.exposeFunction('recordState', (which: 'app' | 'solve', s: string) => seen[which].add(s));
  await page.goto(rig.pageUrl);
  await page.waitForSelector('[data-testid=app-state]');
  // Every state the page shows, the app's and its child's, as a user watching would see them.
  await page.evaluate(() => {
    const record = (window as unknown as { recordState(which: string, s: string): void }).recordState;
    const note = () => {
      record('app', document.querySelector('[data-testid=app-state]')?.textContent ?? '');
      const child = document.querySelector('[data-testid=solve-state]');
      if (child) record('solve', child.textContent ?? '');
    };
    note();
    new MutationObserver(note).observe(document.body, { childList: true, characterData: true, subtree: true });
  });
  const uploadsBefore = api.requests.filter((r) => r.endpoint === 'upload').length;

  await page.setInputFiles('[data-testid=file]', fixture);
  await page.waitForSelector('[data-testid=calibration][data-attempt="1"]', { timeout: 90_000 });
  const field = async (name: string) => (await page.textContent(`[data-testid=calibration] [data-field=${name}]`)) ?? '';
  expect(Math.abs(Number(await field('ra')) - truth.ra) * Math.cos((truth.dec * Math.PI) / 180)).toBeLessThan(0.01);
  expect(Math.abs(Number(await field('dec')) - truth.dec)).toBeLessThan(0.01);
  const firstSubid = await field('subid');

  await page.click('[data-testid=retry]');
  await page.waitForSelector('[data-testid=calibration][data-attempt="2"]', { timeout: 90_000 });
  expect(Math.abs(Number(await field('dec')) - truth.dec)).toBeLessThan(0.01);
  expect(await field('subid')).not.toBe(firstSubid);

  expect([...seen.app]).toEqual(['picking', 'solving', 'showing']);
  for (const state of ['uploading', 'jobRunning.reading']) expect([...seen.solve]).toContain(state);
  // One upload per solve: React's strict mode and the retry upload nothing twice.
  expect(api.requests.filter((r) => r.endpoint === 'upload').length - uploadsBefore).toBe(2);
  expect(errors).toEqual([]);
  mkdirSync(join(root, 'test-artifacts'), { recursive: true });
  await page.screenshot({ path: join(root, 'test-artifacts/react-app-example.png'), fullPage: true });
  await page.close();
}, 120_000);
