/**
 * `GET /api/server_info`: an extension real nova lacks (clients read it where present and
 * ignore its absence). It says what this server is, which solver and index files it runs, the
 * field widths those solve, and its limits, so a client can tell a field it cannot solve here.
 */
import { createRequire } from 'node:module';
import type { Exchange } from './context.js';
import { pyFloat, type Dumpable } from './python.js';
import { sendJson } from './respond.js';
import type { SolverDescription } from './solver-backend.js';

export interface ServerLimits {
  maxUploadBytes: number;
  concurrency: number;
  longPollMaxSeconds: number;
  maxPixels: number;
  maxSourceRows: number;
}

/** This package's version: its package.json sits one folder above both src/ and dist/. */
export function packageVersion(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}

const range = ([lo, hi]: [number, number]): Dumpable => [pyFloat(Number(lo.toFixed(3))), pyFloat(Number(hi.toFixed(3)))];

export function serverInfoBody(solver: SolverDescription, limits: ServerLimits): Dumpable {
  const index = solver.index;
  return {
    server: 'astrometry-net-client serve',
    version: packageVersion(),
    solver: { name: solver.name, version: solver.version ?? null },
    index: index
      ? {
          dirs: index.dirs,
          files: index.files,
          series: index.series.map((s) => ({ series: s.series, name: s.name, scales: s.scales, files: s.files })),
          field_width_arcmin: index.fieldWidthArcmin.map(range),
          summary: index.summary,
        }
      : null,
    limits: {
      max_upload_bytes: limits.maxUploadBytes,
      concurrency: limits.concurrency,
      long_poll_max_seconds: limits.longPollMaxSeconds,
      max_pixels: limits.maxPixels,
      max_source_rows: limits.maxSourceRows,
      cpu_limit_seconds: solver.limits?.cpuLimitSeconds ?? null,
      solve_timeout_seconds: solver.limits?.timeoutSeconds ?? null,
    },
  };
}

export function serverInfo(body: Dumpable, ex: Exchange): void {
  sendJson(ex.res, body);
}
