/**
 * `astrometry-net serve` run as a user runs it (a child process of the built CLI), and the
 * fixture checks shared by the real-solver tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { cleanEnv, CLI, FIXTURES, ROOT } from './cli-run.js';

export interface Truth {
  ra: number;
  dec: number;
  width: number;
  height: number;
  scale_arcsec: number;
}

export async function truthOf(name: string): Promise<Truth> {
  return JSON.parse(await readFile(path.join(FIXTURES, `${name}.truth.json`), 'utf8')) as Truth;
}

/** Centre within 0.01 deg (the RA difference scaled by cos(dec)); pixel scale within 0.5 %. */
export function expectNear(ra: number, dec: number, pixscale: number, truth: Truth): void {
  const dRa = ((((ra - truth.ra) % 360) + 540) % 360) - 180;
  expect(Math.abs(dRa) * Math.cos((truth.dec * Math.PI) / 180), `RA ${ra} vs ${truth.ra}`).toBeLessThan(0.01);
  expect(Math.abs(dec - truth.dec), `Dec ${dec} vs ${truth.dec}`).toBeLessThan(0.01);
  expect(Math.abs(pixscale / truth.scale_arcsec - 1), `scale ${pixscale} vs ${truth.scale_arcsec}`).toBeLessThan(0.005);
}

/** A fresh 16-letter key, as nova's are. */
export const randomApiKey = (): string => Array.from({ length: 16 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');

export interface Serve {
  child: ChildProcess;
  apiUrl: string;
  origin: string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `astrometry-net serve --port 0 --solver solve-field --api-key KEY [extra...]`: resolves once it prints its URL. */
export function startServe(apiKey: string, extraArgs: readonly string[] = []): Promise<Serve> {
  return startServeWith(['--port', '0', '--solver', 'solve-field', '--api-key', apiKey, ...extraArgs]);
}

/** `astrometry-net serve ARGS...`: resolves once it prints its URL. */
export async function startServeWith(args: readonly string[]): Promise<Serve> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    cwd: ROOT,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const apiUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no URL in 20 s; stderr:\n${stderr}`)), 20_000);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const lines = stdout.split('\n');
      if (lines.length > 1) {
        clearTimeout(timer);
        resolve(lines[0] as string);
      }
    });
    child.on('error', reject);
    void exit.then(({ code }) => reject(new Error(`serve exited (${code}) before printing its URL; stderr:\n${stderr}`)));
  });
  return { child, apiUrl, origin: new URL(apiUrl).origin, stderr: () => stderr, exit };
}
