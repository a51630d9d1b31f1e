/**
 * Solvers that are really gone: `serve` runs each solve-field in its own process group and
 * records it in the store. After kill -9 of serve the solver keeps running (nothing else can
 * stop it), and the next serve on the same data directory kills it before it accepts work; a
 * clean stop kills its own solvers. The real solver, on a field it cannot solve quickly.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodePng } from '../src/render.js';
import { alive, processesUnder } from '../../test/helpers/processes.js';
import { randomApiKey, startServeWith, type Serve } from '../../test/helpers/serve-process.js';
import { until } from '../../test/helpers/until.js';

const started: Serve[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const s of started) s.child.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Star-like dots at random places: many quads to try, no match in the index, a long search. */
export function fakeStarField(seed: number, w = 1200, h = 900): Uint8Array {
  let state = seed >>> 0;
  const rnd = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const data = new Uint8Array(w * h);
  for (let i = 0; i < data.length; i++) data[i] = 10 + Math.floor(rnd() * 6);
  for (let s = 0; s < 300; s++) {
    const cx = rnd() * w;
    const cy = rnd() * h;
    const a = 60 + rnd() * 190;
    for (let y = Math.max(0, Math.floor(cy - 4)); y < Math.min(h, cy + 4); y++) {
      for (let x = Math.max(0, Math.floor(cx - 4)); x < Math.min(w, cx + 4); x++) {
        data[y * w + x] = Math.min(255, (data[y * w + x] ?? 0) + a * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 3));
      }
    }
  }
  return encodePng({ width: w, height: h, channels: 1, data });
}

async function uploadTo(s: Serve, key: string, bytes: Uint8Array): Promise<number> {
  const login = new URLSearchParams({ 'request-json': JSON.stringify({ apikey: key }) });
  const { session } = (await (await fetch(s.apiUrl + 'login', { method: 'POST', body: login })).json()) as { session: string };
  const form = new FormData();
  form.set('request-json', JSON.stringify({ session }));
  form.set('file', new Blob([bytes as Uint8Array<ArrayBuffer>]), 'stars.png');
  return ((await (await fetch(s.apiUrl + 'upload', { method: 'POST', body: form })).json()) as { subid: number }).subid;
}

const solvers = (dataDir: string, servePids: number[]) => processesUnder(join(dataDir, 'jobs'), servePids);

describe('solver processes', () => {
  it('survive kill -9 of serve only until the next serve on that data directory starts; a clean stop leaves none', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'nova-procs-'));
    dirs.push(dataDir);
    const key = randomApiKey();
    const args = ['--port', '0', '--solver', 'solve-field', '--api-key', key, '--data-dir', dataDir, '--concurrency', '2'];
    const first = await startServeWith(args);
    started.push(first);
    await uploadTo(first, key, fakeStarField(1));
    await uploadTo(first, key, fakeStarField(2));
    // Two solve-fields, and the engines they started (children in the same group).
    const running = await until(
      'two solvers and their engines',
      () => solvers(dataDir, [first.child.pid as number]),
      (p) => new Set(p.map((x) => x.pgid)).size >= 2 && p.some((x) => x.cmdline.includes('astrometry-engine')),
    );
    const groups = [...new Set(running.map((p) => p.pgid))];
    // Each solve-field leads its own group: kill(-pgid) reaches everything it started.
    for (const g of groups) expect(running.some((p) => p.pid === g)).toBe(true);

    first.child.kill('SIGKILL');
    await first.exit;
    // Nothing stopped them: this is what a crash leaves behind.
    expect(groups.filter(alive)).toEqual(groups);

    const second = await startServeWith(args);
    started.push(second);
    // The new server killed them (from the pids in the store), and waited until every one was
    // gone, before it printed its URL.
    for (const g of groups) expect(second.stderr()).toContain(`reaped solver process group ${g} `);
    expect(running.filter((p) => alive(p.pid))).toEqual([]);
    // Their jobs were handed back and are solving again, under this server.
    const again = await until('new solvers', () => solvers(dataDir, [second.child.pid as number]), (p) => p.length > 0);
    expect(again.every((p) => !groups.includes(p.pgid))).toBe(true);

    second.child.kill('SIGTERM');
    expect((await second.exit).code).toBe(0);
    expect(solvers(dataDir, [])).toEqual([]);
  }, 90_000);
});
