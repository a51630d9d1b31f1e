/**
 * What the user sees while a batch runs.
 *
 * On a terminal (stderr is a TTY): a live view redrawn at most 5 times a second, with one line
 * per running input (its statechart state; bytes, percentage and rate while uploading; time in
 * the solve), the queue, and batch totals with an ETA. Elsewhere (a pipe, a log file, CI): one
 * timestamped line per state change. `--quiet` shows only errors and the summary; `--verbose`
 * adds each request's method and URL (never a key: the library only reports those two).
 *
 * Names are shown by what tells them apart (basename, middle ellipsis), states in colour where
 * the terminal takes it (NO_COLOR, FORCE_COLOR honoured).
 *
 * Results go through `result()` so they are printed between redraws, never inside the view.
 */

import type { SolveView } from '../client/solve-view.js';
import { displayWidth, padToWidth, sliceEndToWidth, sliceToWidth } from './display-width.js';
import { colourEnabled, painter, stateStyle, type Paint, type Style } from './colour.js';

export interface ProgressOptions {
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  /** Live view instead of lines. Default: `stderr.isTTY`. */
  tty?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  concurrency: number;
  /** Redraws per second at most. */
  fps?: number;
  now?: () => number;
  /** Colour on stderr / stdout. Default: each stream's own choice (TTY, NO_COLOR, FORCE_COLOR). */
  colour?: { stderr: boolean; stdout: boolean };
}

interface Item {
  id: string;
  label: string;
  /** `queued`, or the machine state (`uploading`, `jobRunning.waiting`...). */
  state: string;
  started: number | null;
  stateSince: number;
  upload: { sent: number; total: number | null; firstAt: number; firstSent: number; lastAt: number } | null;
  outcome: 'success' | 'failure' | null;
  detail: string;
  /** A login or upload being retried: why, the attempts so far, and when the next goes. */
  retrying: SolveView['retrying'];
}

const BAR_WIDTH = 16;

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

function topState(state: string): string {
  return state.split('.')[0] as string;
}

export class Progress {
  readonly #o: Required<Omit<ProgressOptions, 'tty'>> & { tty: boolean };
  readonly #paintErr: Paint;
  readonly #paintOut: Paint;
  readonly #items = new Map<string, Item>();
  readonly #order: string[] = [];
  readonly #start: number;
  #drawnLines = 0;
  #timer: NodeJS.Timeout | null = null;
  #ticker: NodeJS.Timeout | null = null;
  #lastDraw = 0;
  #stopped = false;
  /** Shown names by label, recomputed when inputs are added. */
  #names = new Map<string, string>();
  #namesFor = -1;

  constructor(options: ProgressOptions) {
    this.#o = {
      quiet: false,
      verbose: false,
      fps: 5,
      now: Date.now,
      ...options,
      tty: options.tty ?? Boolean(options.stderr.isTTY),
      colour: options.colour ?? { stderr: colourEnabled(options.stderr), stdout: colourEnabled(options.stdout) },
    };
    this.#paintErr = painter(this.#o.colour.stderr);
    this.#paintOut = painter(this.#o.colour.stdout);
    this.#start = this.#o.now();
    if (this.#live) {
      // Elapsed times move even when no state does.
      this.#ticker = setInterval(() => this.#schedule(), 1000);
      this.#ticker.unref();
    }
  }

  get #live(): boolean {
    return this.#o.tty && !this.#o.quiet;
  }

  add(id: string, label: string): void {
    if (this.#items.has(id)) return;
    this.#items.set(id, { id, label, state: 'queued', started: null, stateSince: this.#o.now(), upload: null, outcome: null, detail: '', retrying: null });
    this.#order.push(id);
    this.#schedule();
  }

  /** A new snapshot of an input's solve: `state` is its `SolveView.state`, `info` (`upload`, `subid`, `jobId`) from its view too. */
  update(id: string, state: string, info: Partial<Pick<SolveView, 'upload' | 'subid' | 'jobId' | 'retrying'>> = {}): void {
    const item = this.#items.get(id);
    if (!item) return;
    const now = this.#o.now();
    if (item.started === null) item.started = now;
    const changedTop = topState(item.state) !== topState(state);
    if (item.state !== state) {
      item.state = state;
      if (changedTop) item.stateSince = now;
    }
    const p = info.upload;
    if (topState(state) === 'uploading' && p) {
      if (!item.upload) item.upload = { sent: p.sentBytes, total: p.totalBytes, firstAt: now, firstSent: p.sentBytes, lastAt: now };
      else Object.assign(item.upload, { sent: p.sentBytes, total: p.totalBytes, lastAt: now });
    }
    const ids = [info.subid ? `subid ${info.subid}` : '', info.jobId ? `job ${info.jobId}` : ''].filter(Boolean).join(', ');
    if (ids) item.detail = ids;
    if (changedTop && !this.#o.tty && !this.#o.quiet) {
      this.#line(this.#o.stderr, `${new Date(now).toISOString()} ${item.label}: ${topState(state)}${ids ? ` (${ids})` : ''}`);
    }
    // A retry is said at once, each attempt once: the live view counts down to the next.
    const retrying = info.retrying ?? null;
    if (retrying && retrying.attempt !== item.retrying?.attempt && !this.#o.tty && !this.#o.quiet) {
      this.#line(this.#o.stderr, `${new Date(now).toISOString()} ${item.label}: ${retryText(retrying, now)}`);
    }
    item.retrying = retrying;
    this.#schedule();
  }

  settle(id: string, outcome: 'success' | 'failure'): void {
    const item = this.#items.get(id);
    if (!item) return;
    item.outcome = outcome;
    item.state = outcome;
    this.#schedule();
  }

  /** A request made (only with --verbose). */
  request(method: string, url: string): void {
    if (!this.#o.verbose) return;
    this.#line(this.#o.stderr, `${this.#o.tty ? '' : `${new Date(this.#o.now()).toISOString()} `}${method} ${url}`);
  }

  /** A result line on stdout, or on stderr when stdout is reserved (`--json`). */
  result(line: string, toStderr = false): void {
    const paint = toStderr ? this.#paintErr : this.#paintOut;
    const word = /^(solved|failed)\b/.exec(line)?.[1];
    const shown = word ? paint(word, word === 'solved' ? 'green' : 'red') + line.slice(word.length) : line;
    this.#line(toStderr ? this.#o.stderr : this.#o.stdout, shown, true);
  }

  /** The summary line, its counts coloured where the stream takes colour. */
  summary(stream: NodeJS.WritableStream, total: number, solved: number, failed: number, elapsed: string): void {
    const paint = stream === this.#o.stderr ? this.#paintErr : this.#paintOut;
    const line =
      `${total} input${total === 1 ? '' : 's'}: ${paint(`${solved} solved`, solved > 0 ? 'green' : undefined)}, ` +
      `${paint(`${failed} failed`, failed > 0 ? 'red' : undefined)} (${elapsed})`;
    stream.write(`${line}\n`);
  }

  /** An error or warning on stderr; shown even with --quiet. */
  error(line: string): void {
    this.#line(this.#o.stderr, line, true);
  }

  /** Informational line on stderr (hidden by --quiet). */
  info(line: string): void {
    if (!this.#o.quiet) this.#line(this.#o.stderr, line);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#ticker) clearInterval(this.#ticker);
    this.#clear();
  }

  #line(stream: NodeJS.WritableStream, line: string, force = false): void {
    if (this.#o.quiet && !force && stream === this.#o.stderr) return;
    this.#clear();
    stream.write(`${line}\n`);
    this.#schedule();
  }

  #clear(): void {
    if (this.#drawnLines > 0) {
      this.#o.stderr.write(`\x1b[${this.#drawnLines}A\x1b[J`);
      this.#drawnLines = 0;
    }
  }

  #schedule(): void {
    if (!this.#live || this.#stopped) return;
    if (this.#timer) return;
    const wait = Math.max(0, 1000 / this.#o.fps - (this.#o.now() - this.#lastDraw));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#draw();
    }, wait);
    this.#timer.unref();
  }

  #draw(): void {
    if (this.#stopped) return;
    this.#lastDraw = this.#o.now();
    const lines = this.#view().map((segments) => segments.map(([text, style]) => this.#paintErr(text, style)).join(''));
    this.#clear();
    if (lines.length === 0) return;
    this.#o.stderr.write(`${lines.join('\n')}\n`);
    this.#drawnLines = lines.length;
  }

  /** The live view's lines, without colour (exposed for tests). */
  render(): string[] {
    return this.#view().map((segments) => segments.map(([text]) => text).join(''));
  }

  /** The live view as lines of styled segments, each line cut to the terminal's width. */
  #view(): Segment[][] {
    const now = this.#o.now();
    // A pseudo-terminal may report 0 columns: treat that as unknown.
    const width = Math.max(40, (this.#o.stderr as { columns?: number }).columns || 100);
    const rows = Math.max(6, (this.#o.stderr as { rows?: number }).rows || 30);
    const items = this.#order.map((id) => this.#items.get(id) as Item);
    const running = items.filter((i) => i.outcome === null && i.state !== 'queued');
    const queued = items.filter((i) => i.state === 'queued');
    const solved = items.filter((i) => i.outcome === 'success').length;
    const failed = items.filter((i) => i.outcome === 'failure').length;
    const settled = solved + failed;
    const elapsed = now - this.#start;
    const remaining = items.length - settled;
    let eta = '–';
    if (settled > 0 && remaining > 0) eta = formatDuration((elapsed / settled) * remaining);
    else if (remaining === 0) eta = '0:00';
    const header: Segment[] = [
      [`${settled}/${items.length} done (`, 'bold'],
      [`${solved} solved`, solved > 0 ? 'green' : undefined],
      [', '],
      [`${failed} failed`, failed > 0 ? 'red' : undefined],
      [`) · ${running.length} running · ${queued.length} queued · ${formatDuration(elapsed)} elapsed · ETA ${eta}`],
    ];
    // Names by what tells them apart: the basename, or as many trailing folders as it takes.
    if (this.#namesFor !== items.length) {
      this.#names = distinctNames(items.map((i) => i.label));
      this.#namesFor = items.length;
    }
    const names = this.#names;
    const name = (item: Item) => names.get(item.label) ?? item.label;
    const labelWidth = Math.min(Math.max(16, Math.floor(width * 0.35)), Math.max(8, ...running.map((i) => displayWidth(name(i)))));
    const lines: Segment[][] = [header];
    for (const item of running.slice(0, rows - 3)) {
      lines.push([[`  ${padToWidth(middleEllipsis(name(item), labelWidth), labelWidth)}  `], ...this.#describe(item, now)]);
    }
    if (running.length > rows - 3) lines.push([[`  … and ${running.length - (rows - 3)} more running`]]);
    if (queued.length > 0) {
      const shown = queued.slice(0, 3).map((q) => middleEllipsis(name(q), 24)).join(', ');
      lines.push([['  queued: ', 'dim'], [`${shown}${queued.length > 3 ? `, … (${queued.length})` : ''}`]]);
    }
    return lines.map((l) => fitSegments(l, width - 1));
  }

  #describe(item: Item, now: number): Segment[] {
    const top = topState(item.state);
    if (item.retrying) return [[top.padEnd(28), stateStyle(top)], [` ${retryText(item.retrying, now)}`, 'dim']];
    const inState = formatDuration(now - item.stateSince);
    const total = formatDuration(now - (item.started ?? now));
    if (top === 'uploading' && item.upload) {
      const u = item.upload;
      const seconds = (u.lastAt - u.firstAt) / 1000;
      const rate = seconds > 0 ? (u.sent - u.firstSent) / seconds : 0;
      const fraction = u.total ? Math.min(1, u.sent / u.total) : null;
      const bar = fraction === null ? '' : `[${'#'.repeat(Math.round(fraction * BAR_WIDTH)).padEnd(BAR_WIDTH, '.')}] ${Math.round(fraction * 100)}% `;
      return [
        ['uploading', stateStyle(top)],
        [` ${bar}${formatBytes(u.sent)}${u.total ? `/${formatBytes(u.total)}` : ''}${rate > 0 ? ` ${formatBytes(rate)}/s` : ''}  ${total}`],
      ];
    }
    return [[item.state.padEnd(28), stateStyle(top)], [` ${inState} in state, ${total} total${item.detail ? `  (${item.detail})` : ''}`]];
  }
}

type Segment = [text: string, style?: Style];

/** `cannot reach nova.test: ECONNREFUSED, retrying in 12 s (attempt 3)`. */
function retryText(r: NonNullable<SolveView['retrying']>, now: number): string {
  const left = Math.max(0, Math.ceil((r.retryAt - now) / 1000));
  return `${r.problem}, retrying ${left > 0 ? `in ${left} s` : 'now'} (attempt ${r.attempt})`;
}

/** Cuts a line of segments to `width` visible characters (an ellipsis marks the cut), padding none. */
function fitSegments(segments: Segment[], width: number): Segment[] {
  const out: Segment[] = [];
  let left = width;
  for (const [text, style] of segments) {
    if (left <= 0) break;
    const width = displayWidth(text);
    if (width <= left) {
      out.push(style ? [text, style] : [text]);
      left -= width;
      continue;
    }
    const cut = `${sliceToWidth(text, left - 1)}…`;
    out.push(style ? [cut, style] : [cut]);
    left = 0;
  }
  return out;
}

/** `a-very-long-name.fits` as `a-very…ame.fits`: both ends kept, where names differ most. */
export function middleEllipsis(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 1) return '…';
  const tail = Math.ceil((width - 1) / 2);
  const head = width - 1 - tail;
  return `${sliceToWidth(text, head)}…${sliceEndToWidth(text, tail)}`;
}

/**
 * Each label shortened to its basename, or to as many trailing path segments as make it unique
 * among `labels` (URLs keep their last segment and query).
 */
export function distinctNames(labels: readonly string[]): Map<string, string> {
  const unique = [...new Set(labels)];
  const parts = unique.map((l) => l.split(/[\\/]/).filter((p) => p !== ''));
  const depth = Math.max(0, ...parts.map((p) => p.length));
  // How many labels end in each suffix of n segments: O(labels x depth), not a pairwise scan.
  const counts = new Map<string, number>();
  for (const mine of parts) {
    for (let n = 1; n <= mine.length; n++) {
      const key = `${n}\0${mine.slice(-n).join('/')}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  const out = new Map<string, string>();
  unique.forEach((label, i) => {
    const mine = parts[i] as string[];
    let chosen = label;
    for (let n = 1; n < Math.min(mine.length, depth + 1); n++) {
      const suffix = mine.slice(-n).join('/');
      if (counts.get(`${n}\0${suffix}`) === 1) {
        chosen = suffix;
        break;
      }
    }
    out.set(label, chosen);
  });
  return out;
}
