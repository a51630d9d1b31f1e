/**
 * Fault injection for client tests: the failure shapes a nova client meets in the wild
 * (dropped connections, proxy errors, HTML where JSON was expected, front-end 403/429 blocks,
 * slowness). Each fault applies to the next matching requests, then is used up.
 */

export type FaultKind = 'drop' | 'status' | 'html' | 'text' | 'rate-limit' | 'slow' | 'forbidden';

export interface Fault {
  /** Endpoint name (e.g. 'upload', 'job', 'wcs_file') or exact path; a RegExp is tried on both. Omitted: any request. */
  endpoint?: string | RegExp;
  kind: FaultKind;
  /** How many matching requests it applies to. Default 1. */
  times?: number;
  /** 'rate-limit': the Retry-After value in seconds. Default 1. */
  retryAfterSeconds?: number;
  /** 'slow': delay before the request is handled normally. Default 1000. */
  delayMs?: number;
  /** 'status': the HTTP status to answer. Default 500. */
  status?: number;
}

export interface FaultController {
  inject(fault: Fault): void;
  clear(): void;
  /** Faults not yet used up, with their remaining counts. */
  readonly pending: readonly Readonly<Fault & { remaining: number }>[];
}

interface Armed extends Fault {
  remaining: number;
}

export class Faults implements FaultController {
  private armed: Armed[] = [];

  inject(fault: Fault): void {
    const times = fault.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new RangeError('fault.times must be a positive integer');
    this.armed.push({ ...fault, remaining: times });
  }

  clear(): void {
    this.armed = [];
  }

  get pending(): readonly Readonly<Armed>[] {
    return this.armed.map((f) => ({ ...f }));
  }

  /** The first armed fault matching this request, consumed by one use. */
  take(endpoint: string, path: string): Fault | undefined {
    const i = this.armed.findIndex((f) => matches(f.endpoint, endpoint, path));
    if (i < 0) return undefined;
    const f = this.armed[i] as Armed;
    f.remaining -= 1;
    if (f.remaining <= 0) this.armed.splice(i, 1);
    return f;
  }
}

function matches(pattern: string | RegExp | undefined, endpoint: string, path: string): boolean {
  if (pattern === undefined) return true;
  if (typeof pattern === 'string') {
    const trimmed = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p);
    return pattern === endpoint || trimmed(pattern) === trimmed(path);
  }
  pattern.lastIndex = 0;
  if (pattern.test(endpoint)) return true;
  pattern.lastIndex = 0;
  return pattern.test(path);
}
