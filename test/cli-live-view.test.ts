/**
 * What a person sees on a terminal: names by what tells them apart, colour where the terminal
 * takes it, and NO_COLOR / FORCE_COLOR honoured. The live view is checked on a real
 * pseudo-terminal (util-linux `script`), the built CLI solving against the in-repo server.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { colourEnabled, painter } from '../src/cli/colour.js';
import { distinctNames, middleEllipsis, Progress } from '../src/cli/progress.js';
import { buildCli, CLI, cleanEnv, FIXTURES, GOOD_KEY, runCli, startTestServer, type TestServer } from './helpers/cli-run.js';

const SGR_COLOUR = /\x1b\[[0-9;]*m/;

describe('names and colour', () => {
  test('each name is cut to what tells it apart: the basename, or as many folders as it takes', () => {
    const names = distinctNames(['../../test/fixtures/orion.png', '../../test/fixtures/south.png', 'n1/a.fits', 'n1/deep/a.fits', 'https://example.org/sky/m31.jpg?x=1']);
    expect([...names.values()]).toEqual(['orion.png', 'south.png', 'n1/a.fits', 'deep/a.fits', 'm31.jpg?x=1']);
    expect(middleEllipsis('NGC7000-north-america-2026-12-01-light-0042.fits', 21)).toBe('NGC7000-no…-0042.fits');
    expect(middleEllipsis('short.fits', 21)).toBe('short.fits');
  });

  test('colour: on for a TTY; NO_COLOR turns it off; FORCE_COLOR turns it on, even into a pipe; TERM=dumb has none', () => {
    const tty = { isTTY: true };
    const pipe = { isTTY: false };
    expect(colourEnabled(tty, {})).toBe(true);
    expect(colourEnabled(pipe, {})).toBe(false);
    expect(colourEnabled(tty, { NO_COLOR: '1' })).toBe(false);
    expect(colourEnabled(tty, { NO_COLOR: '' })).toBe(true);
    expect(colourEnabled(pipe, { FORCE_COLOR: '1' })).toBe(true);
    expect(colourEnabled(tty, { FORCE_COLOR: '0' })).toBe(false);
    expect(colourEnabled(tty, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(true);
    expect(colourEnabled(tty, { TERM: 'dumb' })).toBe(false);
    expect(painter(true)('solved', 'green')).toBe('\x1b[32msolved\x1b[39m');
    expect(painter(false)('solved', 'green')).toBe('solved');
  });

  test('the live view colours states and counts; its plain text is the same either way', () => {
    const writes: string[] = [];
    const stream = { isTTY: true, columns: 100, rows: 30, write: (s: string) => (writes.push(s), true) } as unknown as NodeJS.WriteStream;
    for (const colour of [true, false]) {
      writes.length = 0;
      const p = new Progress({ stderr: stream, stdout: stream, concurrency: 2, colour: { stderr: colour, stdout: colour } });
      p.add('a', 'night/a.fits');
      p.update('a', 'jobRunning.waiting', { jobId: 5 });
      p.result('solved  night/a.fits  RA 1');
      p.summary(stream, 1, 1, 0, '0:01');
      p.stop();
      const text = writes.join('');
      expect(SGR_COLOUR.test(text)).toBe(colour);
      if (colour) {
        expect(text).toContain('\x1b[32msolved\x1b[39m  night/a.fits');
        expect(text).toContain('\x1b[32m1 solved\x1b[39m, 0 failed (0:01)');
      }
      expect(p.render()[1]).toMatch(/^ {2}a\.fits\s+jobRunning\.waiting/);
    }
  });
});

describe('on a pseudo-terminal', () => {
  let nova: TestServer;
  let work: string;
  const folder = 'observations/2026-12-01-a-long-night-at-the-telescope/raw-frames';

  beforeAll(async () => {
    await buildCli();
    nova = await startTestServer();
    work = mkdtempSync(join(tmpdir(), 'astrometry-net-cli-pty-'));
    mkdirSync(join(work, folder), { recursive: true });
    for (const name of ['orion.png', 'south.png']) copyFileSync(join(FIXTURES, name), join(work, folder, name));
  }, 120_000);

  afterAll(async () => {
    await nova?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Runs the CLI with stdout and stderr on a pty; resolves with everything the terminal got. */
  function onPty(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; screen: string }> {
    const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('script', ['-qfec', quoted, '/dev/null'], { cwd: work, env: cleanEnv({ TERM: 'xterm-256color', FORCE_COLOR: undefined, NO_COLOR: undefined, ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (screen += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (screen += d));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`timed out:\n${screen}`))), 30_000);
      child.on('close', (code) => (clearTimeout(timer), resolve({ code, screen })));
    });
  }

  const run = (out: string, env: Record<string, string | undefined>) => {
    // Uploads held back, so the live view draws a few times while they run.
    nova.server.faults.inject({ endpoint: 'upload', kind: 'slow', delayMs: 800 });
    return onPty(['solve', `${folder}/orion.png`, `${folder}/south.png`, '--api-url', nova.url, '--api-key', GOOD_KEY, '--out', join(work, out)], env);
  };

  test('the live view names each input by its basename and colours its state', async () => {
    const { code, screen } = await run('colour', {});
    expect(code, screen).toBe(0);
    // The live view was drawn (a header, then redrawn in place) ...
    expect(screen).toMatch(/\d\/2 done \(/);
    expect(screen).toContain('\x1b[J');
    // ... with rows named by what tells them apart, not by the shared folder prefix.
    const rows = screen.split(/\r?\n/).filter((l) => /uploading|loggingIn|submissionPending|jobRunning/.test(l) && !/^\d{4}-/.test(l));
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row).toMatch(/^(\x1b\[[0-9;]*[A-Za-z])* {2}(orion|south)\.png /);
    expect(screen).not.toMatch(/^ {2}observations/m);
    // States and results in colour.
    // (No bar for a file under 1 MiB: its upload reports no progress.)
    expect(screen).toMatch(/\x1b\[36muploading *\x1b\[39m/);
    expect(screen).toMatch(/\x1b\[32msolved\x1b\[39m {2}observations\//);
    expect(screen).toContain('\x1b[32m2 solved\x1b[39m');
  });

  test('NO_COLOR: the same live view without a colour code', async () => {
    const { code, screen } = await run('no-colour', { NO_COLOR: '1' });
    expect(code, screen).toBe(0);
    expect(screen).toMatch(/\d\/2 done \(/);
    expect(screen).toMatch(/^ {2}(orion|south)\.png +uploading/m);
    expect(SGR_COLOUR.test(screen), JSON.stringify(screen.slice(0, 400))).toBe(false);
    expect(screen).toContain('2 inputs: 2 solved, 0 failed');
  });

  test('FORCE_COLOR colours results into a pipe; without it a pipe gets plain text', async () => {
    const args = ['solve', `${folder}/orion.png`, '--api-url', nova.url, '--api-key', GOOD_KEY, '--out', join(work, 'forced')];
    const forced = await runCli(args, { cwd: work, env: { FORCE_COLOR: '1', NO_COLOR: undefined } });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('\x1b[32msolved\x1b[39m');
    const plain = await runCli([...args.slice(0, -1), join(work, 'plain')], { cwd: work, env: { FORCE_COLOR: undefined, NO_COLOR: undefined } });
    expect(plain.code, plain.stderr).toBe(0);
    expect(SGR_COLOUR.test(plain.stdout + plain.stderr)).toBe(false);
  });
});
