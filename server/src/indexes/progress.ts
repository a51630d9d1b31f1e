/**
 * The download progress line: on a terminal a bar redrawn in place (at most every 200 ms) with
 * the sizes and the speed; elsewhere (a log, a pipe) one line per finished file, so logs stay
 * readable.
 */

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

export const formatSpeed = (bytesPerSecond: number): string => `${formatBytes(Math.round(bytesPerSecond))}/s`;

const BAR = 24;
const REDRAW_MS = 200;

export class ProgressLine {
  private lastDraw = 0;
  private started = 0;
  private from = 0;
  private name = '';

  constructor(
    private readonly write: (text: string) => void,
    private readonly terminal: boolean,
  ) {}

  begin(name: string, resumedFrom: number): void {
    this.name = name;
    this.started = Date.now();
    this.from = resumedFrom;
    this.lastDraw = 0;
  }

  update(received: number, total: number): void {
    if (!this.terminal) return;
    const now = Date.now();
    if (now - this.lastDraw < REDRAW_MS && received < total) return;
    this.lastDraw = now;
    const share = total > 0 ? Math.min(1, received / total) : 0;
    const filled = Math.round(share * BAR);
    const speed = (received - this.from) / Math.max(0.001, (now - this.started) / 1000);
    this.write(
      `\r\x1b[K${this.name} [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${formatBytes(received)} / ${formatBytes(total)} ${formatSpeed(speed)}`,
    );
  }

  /** The file's closing line (both modes). */
  end(line: string): void {
    this.write(`${this.terminal ? '\r\x1b[K' : ''}${line}\n`);
  }
}
