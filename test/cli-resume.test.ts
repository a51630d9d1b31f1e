/**
 * Resume: SIGKILL a running batch, run the same command again, and count uploads at the server.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { SolveJsonDocument } from '../src/cli/json-schema.js';
import { buildCli, FIXTURES, GOOD_KEY, runCli, serverJson, spawnCli, startTestServer, type TestServer } from './helpers/cli-run.js';
import { validate } from './helpers/cli-schema.js';
import { SOLVE_JSON_SCHEMA } from '../src/cli/json-schema.js';

let nova: TestServer;
let work: string;

const INPUTS = ['a.png', 'b.png', 'c-noise.png', 'd.png', 'e.png', 'f.png'];

beforeAll(async () => {
  await buildCli();
  // Slow enough solves that a kill lands mid-batch.
  nova = await startTestServer({ ingestMs: 30, queueMs: 30, solveMs: 700 });
  work = mkdtempSync(join(tmpdir(), 'astrometry-net-cli-resume-'));
  const sources = ['orion.png', 'south.png', 'noise.png', 'small.png', 'orion.png', 'south.png'];
  INPUTS.forEach((name, i) => copyFileSync(join(FIXTURES, sources[i] as string), join(work, name)));
  // Identical bytes must still be distinct inputs: make e/f differ from a/b by a trailing byte.
  writeFileSync(join(work, 'e.png'), Buffer.concat([readFileSync(join(work, 'e.png')), Buffer.from([0])]));
  writeFileSync(join(work, 'f.png'), Buffer.concat([readFileSync(join(work, 'f.png')), Buffer.from([0])]));
}, 120_000);

afterAll(async () => {
  await nova?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Entry {
  input: string;
  state: string;
  stage: string;
  subid: number | null;
  jobId: number | null;
  done: boolean;
  outcome: string | null;
}

function journal(out: string): Map<string, { file: string; entry: Entry }> {
  const dir = join(out, '.astrometry-net-journal');
  const map = new Map<string, { file: string; entry: Entry }>();
  if (!existsSync(dir)) return map;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    try {
      const entry = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Entry;
      map.set(entry.input.split('/').pop() as string, { file: join(dir, name), entry });
    } catch {
      // a rename in progress: read it next time
    }
  }
  return map;
}

test('a batch killed with SIGKILL resumes with the same command: done inputs skipped, started ones resumed, none uploaded twice', async () => {
  const out = join(work, 'out');
  const args = ['solve', ...INPUTS, '--api-url', nova.url, '--api-key', GOOD_KEY, '--out', out, '--json', '-j', '2'];

  // The first upload to arrive is held at the server for 4 s: the kill lands while it is in
  // flight (and the server still creates its submission afterwards, as a real one would).
  nova.server.faults.inject({ endpoint: 'upload', kind: 'slow', delayMs: 4000 });
  const first = spawnCli(args, { cwd: work });
  // Kill once one input is done and another has a submission but is not done.
  let atKill = new Map<string, { file: string; entry: Entry }>();
  const deadline = Date.now() + 20_000;
  for (;;) {
    atKill = journal(out);
    const entries = [...atKill.values()].map((v) => v.entry);
    if (entries.some((e) => e.done) && entries.some((e) => !e.done && e.subid !== null)) break;
    if (Date.now() > deadline) throw new Error(`never reached a mid-batch state:\n${JSON.stringify(entries, null, 1)}\n${first.output().stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  first.kill('SIGKILL');
  const killed = await first.result;
  expect(killed.signal).toBe('SIGKILL');
  atKill = journal(out);
  const uploadsAtKill = nova.uploads();

  const done = [...atKill].filter(([, v]) => v.entry.done).map(([k]) => k);
  const started = [...atKill].filter(([, v]) => !v.entry.done && (v.entry.subid !== null || v.entry.jobId !== null)).map(([k]) => k);
  const inFlight = [...atKill].filter(([, v]) => !v.entry.done && v.entry.subid === null && v.entry.stage === 'uploading').map(([k]) => k);
  const fresh = INPUTS.filter((n) => !done.includes(n) && !started.includes(n) && !inFlight.includes(n));
  expect(done.length).toBeGreaterThan(0);
  expect(started.length).toBeGreaterThan(0);
  expect(fresh.length).toBeGreaterThan(0);
  // The held upload was journaled as uploading before it left.
  expect(inFlight.length).toBe(1);

  const second = await runCli(args, { cwd: work });
  const doc = JSON.parse(second.stdout) as SolveJsonDocument;
  expect(validate(SOLVE_JSON_SCHEMA, doc)).toEqual([]);
  expect(doc.inputs.map((i) => i.input)).toEqual(INPUTS);
  const byName = new Map(doc.inputs.map((i) => [i.input, i]));

  // Only inputs that had not started are uploaded by the second run.
  expect(nova.uploads() - uploadsAtKill).toBe(fresh.length);
  for (const name of done) {
    expect(byName.get(name)).toMatchObject({ skipped: true, subid: atKill.get(name)?.entry.subid, jobId: atKill.get(name)?.entry.jobId });
  }
  for (const name of started) {
    const item = byName.get(name);
    expect(item?.skipped).toBe(false);
    expect(item?.resumedFrom).not.toBeNull();
    expect(item?.subid ?? null).toBe(atKill.get(name)?.entry.subid ?? null);
  }
  for (const name of inFlight) expect(byName.get(name)?.error?.code).toBe('upload_interrupted');
  for (const name of fresh) expect(byName.get(name)).toMatchObject({ skipped: false, resumedFrom: null });

  // Every upload the server ever received belongs to exactly one input.
  const subids = doc.inputs.map((i) => i.subid).filter((s): s is number => s !== null);
  expect(new Set(subids).size).toBe(subids.length);
  // (An upload cut off by the kill may or may not have reached the server; it was not re-sent.)
  expect(nova.uploads()).toBeGreaterThanOrEqual(subids.length);
  expect(nova.uploads()).toBeLessThanOrEqual(subids.length + inFlight.length);
  for (const item of doc.inputs) {
    if (item.jobId === null) continue;
    expect((await serverJson(nova, `jobs/${item.jobId}/info`)).original_filename).toBe(item.input);
  }
  expect(doc.inputs.filter((i) => i.status === 'failure').map((i) => i.input)).toEqual(INPUTS.filter((n) => n === 'c-noise.png' || inFlight.includes(n)));
  expect(second.code).toBe(1);
  for (const name of INPUTS.filter((n) => n !== 'c-noise.png' && !inFlight.includes(n))) {
    expect(existsSync(join(out, name.replace('.png', '.wcs.fits'))), name).toBe(true);
  }

  // A third run has nothing left to do.
  const uploadsBefore = nova.uploads();
  const third = await runCli(args, { cwd: work });
  expect(third.code).toBe(1);
  expect((JSON.parse(third.stdout) as SolveJsonDocument).inputs.filter((i) => !i.skipped).map((i) => i.input)).toEqual(inFlight);
  expect(nova.uploads()).toBe(uploadsBefore);
});

test('an upload cut off by a crash is reported as upload_interrupted, never re-sent silently; --reupload sends it once', async () => {
  const out = join(work, 'interrupted');
  const args = ['solve', 'a.png', 'b.png', '--api-url', nova.url, '--api-key', GOOD_KEY, '--out', out, '--json'];
  const first = await runCli(args, { cwd: work });
  expect(first.code, first.stderr).toBe(0);

  // What a SIGKILL during b.png's upload leaves: the journal says uploading, with no submission.
  const { file, entry } = journal(out).get('b.png') as { file: string; entry: Entry };
  writeFileSync(file, JSON.stringify({ ...entry, state: 'uploading', stage: 'uploading', subid: null, jobId: null, done: false, outcome: null, files: {} }));
  unlinkSync(join(out, 'b.wcs.fits'));

  const uploads = nova.uploads();
  const again = await runCli(args, { cwd: work });
  expect(again.code).toBe(1);
  const doc = JSON.parse(again.stdout) as SolveJsonDocument;
  expect(doc.inputs.map((i) => [i.input, i.status, i.error?.code ?? null])).toEqual([
    ['a.png', 'success', null],
    ['b.png', 'failure', 'upload_interrupted'],
  ]);
  expect(again.stderr).toContain('--reupload');
  expect(nova.uploads()).toBe(uploads);

  const reupload = await runCli([...args, '--reupload'], { cwd: work });
  expect(reupload.code, reupload.stderr).toBe(0);
  const after = JSON.parse(reupload.stdout) as SolveJsonDocument;
  expect(after.inputs.map((i) => [i.input, i.status, i.skipped])).toEqual([
    ['a.png', 'success', true],
    ['b.png', 'success', false],
  ]);
  expect(nova.uploads()).toBe(uploads + 1);
  expect(existsSync(join(out, 'b.wcs.fits'))).toBe(true);
});

test('Ctrl-C lets an upload in flight reach the server, starts nothing new, and the rerun finishes without re-uploading', async () => {
  const out = join(work, 'sigint');
  const inputs = ['a.png', 'b.png', 'd.png', 'e.png'];
  const args = ['solve', ...inputs, '--api-url', nova.url, '--api-key', GOOD_KEY, '--out', out, '--json', '-j', '2'];
  const uploads = nova.uploads();
  nova.server.faults.inject({ endpoint: 'upload', kind: 'slow', delayMs: 1500 });
  const run = spawnCli(args, { cwd: work });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const entries = [...journal(out).values()].map((v) => v.entry);
    if (entries.some((e) => e.stage === 'uploading' && e.subid === null) && entries.some((e) => e.subid !== null)) break;
    if (Date.now() > deadline) throw new Error(`no upload in flight:\n${run.output().stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  run.kill('SIGINT');
  const stopped = await run.result;
  expect(stopped.code, stopped.stderr).toBe(130);
  expect(stopped.stderr).toContain('Stopping after 1 upload in flight');
  const entries = [...journal(out).values()].map((v) => v.entry);
  // The held upload got its submission id; nothing else was started.
  expect(entries.filter((e) => e.stage === 'uploading' && e.subid === null)).toEqual([]);
  expect(entries.filter((e) => e.subid !== null)).toHaveLength(2);
  expect(nova.uploads() - uploads).toBe(2);

  const again = await runCli(args, { cwd: work });
  expect(again.code, again.stderr).toBe(0);
  const doc = JSON.parse(again.stdout) as SolveJsonDocument;
  expect(doc.inputs.map((i) => i.status)).toEqual(['success', 'success', 'success', 'success']);
  expect(nova.uploads() - uploads).toBe(4);
});
