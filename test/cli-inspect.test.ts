/**
 * `astrometry-net solve --inspect`: the built bin prints the inspector's URL before solving, the
 * page is served while the command runs and its WebSocket carries the batch's and the solve's
 * statecharts (without the key), the solve still succeeds, and the server is gone at the end.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCli, FIXTURES, GOOD_KEY, spawnCli, startTestServer, type TestServer } from './helpers/cli-run.js';
import { leakedSessionKeys, sessionKeyHashes } from './helpers/session-keys.js';
import { untilDefined } from './helpers/until.js';

let nova: TestServer;
let work: string;

beforeAll(async () => {
  await buildCli();
  nova = await startTestServer();
  work = mkdtempSync(join(tmpdir(), 'astrometry-net-cli-inspect-'));
  copyFileSync(join(FIXTURES, 'orion.png'), join(work, 'orion.png'));
}, 120_000);

afterAll(async () => {
  await nova?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const URL_LINE = /^Inspector: open (http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32}\/) in a browser/m;

describe('astrometry-net solve --inspect', () => {
  test('--inspect-stately prints the URL before solving, serves the statecharts there while it runs, and still solves', async () => {
    // The upload is held back, so there is time to open the page while the solve runs.
    nova.server.faults.inject({ endpoint: 'upload', kind: 'slow', delayMs: 1500 });
    const child = spawnCli(['solve', 'orion.png', '--api-url', nova.url, '--api-key', GOOD_KEY, '--out', join(work, 'out'), '--inspect-stately'], {
      cwd: work,
    });
    const url = await untilDefined('the inspector URL', () => URL_LINE.exec(child.output().stderr)?.[1], 20_000);

    // What a person's browser does: load the page, then open the WebSocket it names.
    const page = await fetch(url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('https://stately.ai/inspect');
    const socketPath = /"socketPath":"([^"]+)"/.exec(html)?.[1] as string;
    expect(socketPath).toMatch(/^\/[0-9a-f]{32}\/events$/);
    const socket = new WebSocket(`ws://${new URL(url).host}${socketPath}`);
    const messages: string[] = [];
    socket.addEventListener('message', (e) => messages.push(e.data as string));
    const closed = new Promise<void>((resolve) => socket.addEventListener('close', () => resolve()));

    const r = await child.result;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^solved {2}orion\.png {2}RA /m);
    expect(r.stdout).toContain('1 input: 1 solved, 0 failed');
    // The URL came before the solving started.
    const lines = r.stderr.split('\n');
    const urlAt = lines.findIndex((l) => URL_LINE.test(l));
    const solvingAt = lines.findIndex((l) => l.startsWith('Solving 1 input'));
    expect(urlAt).toBeGreaterThanOrEqual(0);
    expect(solvingAt === -1 || urlAt < solvingAt).toBe(true);

    // The command closed the page's connection as it ended, after sending everything.
    await closed;
    const events = messages.map((m) => JSON.parse(m) as { type: string; name?: string; sessionId: string; snapshot?: { value?: unknown } });
    const batch = events.find((e) => e.type === '@xstate.actor' && e.name === 'batch');
    const solve = events.find((e) => e.type === '@xstate.actor' && e.name === 'item-0');
    expect(batch, messages.slice(0, 3).join('\n')).toBeDefined();
    expect(solve).toBeDefined();
    const states = events.filter((e) => e.type === '@xstate.snapshot' && e.sessionId === solve?.sessionId).map((e) => JSON.stringify(e.snapshot?.value));
    expect(states).toContain('"uploading"');
    // A batch's solve ends once settled (its final state), where a single solve waits in success.ready.
    expect(states.at(-1)).toBe('"ended"');

    // No key anywhere: not in what the command printed, not in what the inspector sent.
    const sessions = sessionKeyHashes(nova.server.dataDir);
    expect(sessions.size).toBeGreaterThan(0);
    expect(leakedSessionKeys(sessions, [r.stdout, r.stderr, ...messages])).toEqual([]);
    for (const text of [r.stdout, r.stderr, ...messages]) {
      expect(text).not.toContain(GOOD_KEY);
      expect(text).not.toMatch(/\{\s*"0"\s*:\s*\d{1,3}\s*,\s*"1"\s*:/);
    }

    // Stopped with the command.
    await expect(fetch(url)).rejects.toThrow();
  });

  test('--inspect serves the offline page: nothing from elsewhere, and its stream draws the machines and follows the solve to success', async () => {
    nova.server.faults.inject({ endpoint: 'upload', kind: 'slow', delayMs: 1000 });
    const child = spawnCli(['solve', 'orion.png', '--api-url', nova.url, '--api-key', GOOD_KEY, '--out', join(work, 'offline'), '--inspect'], { cwd: work });
    const url = await untilDefined('the inspector URL', () => URL_LINE.exec(child.output().stderr)?.[1], 20_000);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    // No script, style, frame or image from another origin.
    expect(html).not.toMatch(/(src|href)=["']?https?:/i);
    expect(html).not.toContain('stately.ai');
    const streamPath = /"streamPath":"([^"]+)"/.exec(html)?.[1] as string;
    const stream = await fetch(`${new URL(url).origin}${streamPath}`);
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    // Read the stream until the command ends it.
    const text = await stream.text();
    const r = await child.result;
    expect(r.code, r.stderr).toBe(0);
    const messages = text
      .split('\n\n')
      .filter((block) => block.startsWith('data: '))
      .map((block) => JSON.parse(block.slice(6)) as { type: string; machine: string; id?: string; value?: unknown });
    expect(messages.filter((m) => m.type === 'machine').map((m) => m.machine).sort()).toEqual(['batch', 'solve']);
    const solveStates = messages.filter((m) => m.type === 'actor' && m.id === 'item-0').map((m) => JSON.stringify(m.value));
    expect(solveStates).toContain('"uploading"');
    expect(solveStates.at(-1)).toBe('"ended"');
    expect(text).toContain('event: end');
    // State names only: no key, no context.
    expect(text).not.toContain(GOOD_KEY);
    for (const m of messages) expect(Object.keys(m).filter((k) => ['context', 'event', 'output', 'snapshot'].includes(k))).toEqual([]);
    expect(text).not.toContain('"ra":');
  });
});
