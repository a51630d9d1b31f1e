/**
 * The React example in a real browser (Debian's chromium driven by playwright-core) against
 * the embedded server with the real solver: a user picks an image, watches the statechart's
 * state change, and sees the calibration and the annotated image.
 */
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunningServer } from 'astrometry-net-server';
import { startExample, type ExampleRig } from './helpers/browser.js';


const root = fileURLToPath(new URL('..', import.meta.url));
const exampleDir = join(root, 'examples/react');
const outDir = join(exampleDir, 'dist');
const artifacts = join(root, 'test-artifacts');
const fixture = join(root, 'test/fixtures/small.png');
const truth = JSON.parse(readFileSync(join(root, 'test/fixtures/small.truth.json'), 'utf8')) as { ra: number; dec: number; scale_arcsec: number };

let rig: ExampleRig;
let api: RunningServer;
let browser: Browser;

beforeAll(async () => {
  rig = await startExample(exampleDir);
  ({ api, browser } = rig);
}, 120_000);

afterAll(() => rig?.close());

function bundleText(): string {
  const assets = join(outDir, 'assets');
  return readdirSync(assets)
    .filter((f) => f.endsWith('.js') && statSync(join(assets, f)).isFile())
    .map((f) => readFileSync(join(assets, f), 'utf8'))
    .join('\n');
}

describe('React example in chromium', () => {
  test('the browser bundle holds no Node-only code', () => {
    const text = bundleText();
    expect(text).toContain('loggingIn'); // the statechart is in there
    for (const nodeOnly of ['undici', 'form-data', 'node:fs', 'createReadStream', 'platform-node']) expect(text).not.toContain(nodeOnly);
  });

  test('a user picks an image, watches the states, and gets the calibration and the annotated image', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const seen = new Set<string>();
    await page.exposeFunction('recordState', (s: string) => seen.add(s));
    await page.goto(rig.pageUrl);
    await page.waitForSelector('[data-testid=file]');
    // Record every state the page shows, as a user watching it would see them.
    await page.evaluate(() => {
      const el = document.querySelector('[data-testid=state]')!;
      const note = () => (window as unknown as { recordState(s: string): void }).recordState(el.textContent ?? '');
      note();
      new MutationObserver(note).observe(el, { childList: true, characterData: true, subtree: true });
    });
    await page.setInputFiles('[data-testid=file]', fixture);
    await page.waitForSelector('[data-testid=calibration]', { timeout: 90_000 });
    await page.waitForSelector('[data-testid=annotated]', { timeout: 60_000 });

    const field = async (name: string) => Number(await page.textContent(`[data-testid=calibration] [data-field=${name}]`));
    expect(Math.abs((await field('ra')) - truth.ra) * Math.cos((truth.dec * Math.PI) / 180)).toBeLessThan(0.01);
    expect(Math.abs((await field('dec')) - truth.dec)).toBeLessThan(0.01);
    expect(Math.abs((await field('pixscale')) - truth.scale_arcsec) / truth.scale_arcsec).toBeLessThan(0.005);
    const size = await page.$eval('[data-testid=annotated]', (img) => (img as HTMLImageElement).naturalWidth);
    expect(size).toBeGreaterThan(0);

    for (const state of ['idle', 'uploading', 'success.ready']) expect([...seen]).toContain(state);
    expect([...seen].some((s) => s.startsWith('submissionPending') || s.startsWith('jobRunning'))).toBe(true);
    expect(errors).toEqual([]);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'browser-example.png'), fullPage: true });
    await page.close();
  });

  test('"keep my image on this machine": stars found in a Web Worker, only positions sent, RA/Dec grid drawn from the Wcs', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const workers: string[] = [];
    page.on('worker', (w) => workers.push(w.url()));
    const sent: { url: string; bytes: number; body: string }[] = [];
    page.on('request', (r) => {
      if (r.url().startsWith(api.url)) sent.push({ url: r.url(), bytes: r.postDataBuffer()?.length ?? 0, body: r.postData() ?? '' });
    });
    await page.goto(rig.pageUrl);
    await page.check('[data-testid=local]');
    await page.setInputFiles('[data-testid=file]', fixture);
    await page.waitForSelector('[data-testid=wcs]', { timeout: 90_000 });
    expect(await page.textContent('[data-testid=extracting]')).toMatch(/^\d+ stars found here/);
    expect(workers.length).toBeGreaterThan(0);

    // The image never left: the upload carried a source list, and no request came near the image's size.
    const image = statSync(fixture).size;
    const upload = sent.find((r) => r.url.endsWith('/upload'));
    const json = JSON.parse(new URLSearchParams(upload?.body ?? '').get('request-json') ?? '{}') as { x?: number[]; image_width?: number };
    expect(json.x?.length).toBeGreaterThan(10);
    expect(json.image_width).toBe(640);
    expect(Math.max(...sent.map((r) => r.bytes))).toBeLessThan(image / 2);
    expect(sent.reduce((n, r) => n + r.bytes, 0)).toBeLessThan(image / 2);

    const wcsField = async (name: string) => Number(await page.textContent(`[data-testid=wcs] [data-field=${name}]`));
    expect(Math.abs((await wcsField('ra')) - truth.ra) * Math.cos((truth.dec * Math.PI) / 180)).toBeLessThan(0.01);
    expect(Math.abs((await wcsField('dec')) - truth.dec)).toBeLessThan(0.01);
    // Grid lines of RA and of Dec, drawn over the picture itself.
    const titles = await page.$$eval('[data-testid=grid] path title', (ts) => ts.map((t) => t.textContent ?? ''));
    expect(titles.filter((t) => t.startsWith('RA')).length).toBeGreaterThanOrEqual(2);
    expect(titles.filter((t) => t.startsWith('Dec')).length).toBeGreaterThanOrEqual(2);
    expect(await page.$eval('[data-testid=grid] image', (img) => img.getAttribute('href'))).toMatch(/^blob:/);
    expect(errors).toEqual([]);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'browser-example-local.png'), fullPage: true });
    await page.close();
  });

  test('a gzipped FITS kept on this machine: extracted in the worker, solved, and shown with its grid', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(rig.pageUrl);
    await page.check('[data-testid=local]');
    await page.setInputFiles('[data-testid=file]', join(root, 'test/fixtures/small.fits.gz'));
    await page.waitForSelector('[data-testid=grid] path', { timeout: 90_000 });
    const wcsField = async (name: string) => Number(await page.textContent(`[data-testid=wcs] [data-field=${name}]`));
    expect(Math.abs((await wcsField('ra')) - truth.ra) * Math.cos((truth.dec * Math.PI) / 180)).toBeLessThan(0.01);
    expect(Math.abs((await wcsField('dec')) - truth.dec)).toBeLessThan(0.01);
    expect(await page.$eval('[data-testid=grid]', (svg) => svg.getAttribute('viewBox'))).toBe('0 0 640 480');
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(artifacts, 'browser-example-fits.png'), fullPage: true });
    await page.close();
  });
});
