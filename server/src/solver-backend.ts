/**
 * The seam between the nova-compatible HTTP server and whatever solves the images.
 *
 * The server owns HTTP, sessions, submissions and job bookkeeping; a backend only turns one
 * ingested input into a solve outcome. Two backends ship: `simulated` (deterministic timings,
 * for tests) and `solve-field` (astrometry.net's real solver from Debian).
 */
import type { Calibration } from 'astrometry-net-client';

/** Upload options after the server parsed them the way nova does (see docs/nova-protocol.md#upload-options). */
export interface ParsedUploadOptions {
  scale_units?: string;
  scale_type?: string;
  scale_lower?: number;
  scale_upper?: number;
  scale_est?: number;
  scale_err?: number;
  center_ra?: number;
  center_dec?: number;
  radius?: number;
  downsample_factor?: number;
  tweak_order?: number;
  use_sextractor?: boolean;
  crpix_center?: boolean;
  invert?: boolean;
  parity?: number;
  image_width?: number;
  image_height?: number;
  positional_error?: number;
}

export interface SolveRequest {
  /** A private directory for this job; the backend writes every output here. */
  jobDir: string;
  /** The ingested input: an image file, or a FITS table with x,y columns for source lists. */
  inputPath: string;
  kind: 'image' | 'xylist';
  /** The name the user uploaded (or the URL's last segment, or `json-xy`). */
  originalFilename: string;
  options: ParsedUploadOptions;
  /** Aborted when the server shuts down or the job is abandoned. */
  signal: AbortSignal;
  /** Told about every process group the backend starts, so a dead server's solvers can be reaped. */
  processes?: ProcessTracker;
}

export interface ProcessTracker {
  started(pid: number): void;
  ended(pid: number): void;
}

/** Result files a backend may produce, as absolute paths inside `jobDir`. */
export interface SolveFiles {
  wcs?: string;
  newFits?: string;
  rdls?: string;
  axy?: string;
  corr?: string;
  imageRd?: string;
  annotatedDisplay?: string;
  annotatedFull?: string;
  redGreenDisplay?: string;
  redGreenFull?: string;
  extractionDisplay?: string;
  extractionFull?: string;
  joblog?: string;
  /** nova-shaped annotations (JSON, see annotations.ts). */
  annotations?: string;
}

export interface SolveOutcome {
  status: 'success' | 'failure';
  /** For a failure the backend can explain (e.g. no index covers the hinted field width): one sentence. */
  failureReason?: string;
  calibration?: Calibration;
  files: SolveFiles;
  tags: string[];
  machineTags: string[];
  objectsInField: string[];
}

/** What a backend tells about itself at `GET /api/server_info` and at start. */
export interface SolverDescription {
  name: string;
  /** The solver program's version, when it has one. */
  version?: string;
  /** Installed index files and the field widths they serve; absent for solvers without an index. */
  index?: {
    dirs: string[];
    files: number;
    series: { series: number; name: string; scales: number[]; files: number }[];
    /** Field widths served, arcminutes, as merged ranges. */
    fieldWidthArcmin: [number, number][];
    /** The same, for people: e.g. "13 index files (Tycho-2 (4100) scales 07–19) in ...: fields 22'–180° wide". */
    summary: string;
  };
  limits?: { cpuLimitSeconds?: number; timeoutSeconds?: number };
}

export interface SolverBackend {
  readonly name: string;
  solve(request: SolveRequest): Promise<SolveOutcome>;
  describe?(): Promise<SolverDescription>;
}
