/**
 * What the user sees while a batch runs.
 *
 * On a terminal (stderr is a TTY): a live view redrawn at most 5 times a second, with one line
 * per running input (its statechart state; bytes, percentage and rate while uploading; time in
 * the solve), the queue, and batch totals with an ETA. Elsewhere (a pipe, a log file, CI): one
 * timestamped line per state change. `--quiet` shows only errors and the summary; `--verbose`
 * adds each request's method and URL (never a key: the library only reports those two).
 *
 * Results go through `result()` so they are printed between redraws, never inside the view.
 */

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
  readonly #items = new Map<string, Item>();
  readonly #order: string[] = [];
  readonly #start: number;
  #drawnLines = 0;
  #timer: NodeJS.Timeout | null = null;
  #ticker: NodeJS.Timeout | null = null;
  #lastDraw = 0;
  #stopped = false;

  constructor(options: ProgressOptions) {
    this.#o = {
      quiet: false,
      verbose: false,
      fps: 5,
      now: Date.now,
      ...options,
      tty: options.tty ?? Boolean(options.stderr.isTTY),
    };
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
    this.#items.set(id, { id, label, state: 'queued', started: null, stateSince: this.#o.now(), upload: null, outcome: null, detail: '' });
    this.#order.push(id);
    this.#schedule();
  }

  /** A new snapshot of an input's solve: `state` is `stateName(snapshot.value)`. */
  update(id: string, state: string, info: { uploadProgress?: { sentBytes: number; totalBytes: number | null } | null; subid?: number | null; jobId?: number | null } = {}): void {
    const item = this.#items.get(id);
    if (!item) return;
    const now = this.#o.now();
    if (item.started === null) item.started = now;
    const changedTop = topState(item.state) !== topState(state);
    if (item.state !== state) {
      item.state = state;
      if (changedTop) item.stateSince = now;
    }
    const p = info.uploadProgress;
    if (topState(state) === 'uploading' && p) {
      if (!item.upload) item.upload = { sent: p.sentBytes, total: p.totalBytes, firstAt: now, firstSent: p.sentBytes, lastAt: now };
      else Object.assign(item.upload, { sent: p.sentBytes, total: p.totalBytes, lastAt: now });
    }
    const ids = [info.subid ? `subid ${info.subid}` : '', info.jobId ? `job ${info.jobId}` : ''].filter(Boolean).join(', ');
    if (ids) item.detail = ids;
    if (changedTop && !this.#o.tty && !this.#o.quiet) {
      this.#line(this.#o.stderr, `${new Date(now).toISOString()} ${item.label}: ${topState(state)}${ids ? ` (${ids})` : ''}`);
    }
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
    this.#line(toStderr ? this.#o.stderr : this.#o.stdout, line, true);
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
    const lines = this.render();
    this.#clear();
    if (lines.length === 0) return;
    this.#o.stderr.write(`${lines.join('\n')}\n`);
    this.#drawnLines = lines.length;
  }

  /** The live view's lines (exposed for tests). */
  render(): string[] {
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
    const header =
      `${settled}/${items.length} done (${solved} solved, ${failed} failed) · ${running.length} running · ${queued.length} queued` +
      ` · ${formatDuration(elapsed)} elapsed · ETA ${eta}`;
    const labelWidth = Math.min(32, Math.max(8, ...running.map((i) => i.label.length)));
    const lines = [header];
    for (const item of running.slice(0, rows - 3)) {
      lines.push(`  ${fit(item.label, labelWidth)}  ${this.#describe(item, now)}`);
    }
    if (running.length > rows - 3) lines.push(`  … and ${running.length - (rows - 3)} more running`);
    if (queued.length > 0) {
      const names = queued.slice(0, 3).map((q) => q.label).join(', ');
      lines.push(`  queued: ${names}${queued.length > 3 ? `, … (${queued.length})` : ''}`);
    }
    return lines.map((l) => fit(l, width - 1));
  }

  #describe(item: Item, now: number): string {
    const top = topState(item.state);
    const inState = formatDuration(now - item.stateSince);
    const total = formatDuration(now - (item.started ?? now));
    if (top === 'uploading' && item.upload) {
      const u = item.upload;
      const seconds = (u.lastAt - u.firstAt) / 1000;
      const rate = seconds > 0 ? (u.sent - u.firstSent) / seconds : 0;
      const fraction = u.total ? Math.min(1, u.sent / u.total) : null;
      const bar = fraction === null ? '' : `[${'#'.repeat(Math.round(fraction * BAR_WIDTH)).padEnd(BAR_WIDTH, '.')}] ${Math.round(fraction * 100)}% `;
      return `uploading ${bar}${formatBytes(u.sent)}${u.total ? `/${formatBytes(u.total)}` : ''}${rate > 0 ? ` ${formatBytes(rate)}/s` : ''}  ${total}`;
    }
    return `${item.state.padEnd(28)} ${inState} in state, ${total} total${item.detail ? `  (${item.detail})` : ''}`;
  }
}

function fit(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width);
}
