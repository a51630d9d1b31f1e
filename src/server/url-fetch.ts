/**
 * The worker-side fetch of `url_upload` submissions (nova-api.md §7.1): `User-Agent:
 * Mozilla/5.0`, an inactivity timeout (10 s in nova), the body written first and the HTTP
 * status checked after. Failures come back as the exception line Python's `requests` would
 * print, since that is what ends up in the submission's `error_message`.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';

export interface UrlFetchLimits {
  timeoutMs: number;
  maxBytes: number;
}

export type FetchResult = { ok: true; bytes: number } | { ok: false; error: string };

/** nova keeps the URL path's last segment as the original file name. */
export function filenameFromUrl(url: string): string {
  try {
    const path = new URL(url).pathname;
    return path.slice(path.lastIndexOf('/') + 1);
  } catch {
    return '';
  }
}

function hostPort(u: URL): string {
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  return `${u.protocol === 'https:' ? 'HTTPS' : 'HTTP'}ConnectionPool(host='${u.hostname}', port=${port})`;
}

function validate(url: string | null): URL | string {
  const text = url ?? 'None';
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(text)) {
    return `requests.exceptions.MissingSchema: Invalid URL '${text}': No scheme supplied. Perhaps you meant https://${text}?`;
  }
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return `requests.exceptions.InvalidURL: Invalid URL '${text}': No host supplied`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return `requests.exceptions.InvalidSchema: No connection adapters were found for '${text}'`;
  }
  if (!u.hostname) return `requests.exceptions.InvalidURL: Invalid URL '${text}': No host supplied`;
  return u;
}

export async function fetchUrlToFile(
  url: string | null,
  dest: string,
  limits: UrlFetchLimits,
  signal: AbortSignal,
): Promise<FetchResult> {
  const u = validate(url);
  if (typeof u === 'string') return { ok: false, error: u };

  // One controller for shutdown and for the inactivity timer, re-armed on every chunk.
  const ctl = new AbortController();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, limits.timeoutMs);
  };
  const onShutdown = () => ctl.abort();
  signal.addEventListener('abort', onShutdown, { once: true });
  arm();
  const out = createWriteStream(dest, { flags: 'w', mode: 0o600 });
  out.on('error', () => undefined);
  let bytes = 0;
  try {
    const res = await fetch(u, { headers: { 'user-agent': 'Mozilla/5.0' }, redirect: 'follow', signal: ctl.signal });
    arm();
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        bytes += value.byteLength;
        if (bytes > limits.maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw new SizeLimitError(limits.maxBytes);
        }
        if (!out.write(value)) await new Promise<void>((r) => out.once('drain', () => r()));
      }
    }
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.end(() => resolve());
    });
    if (res.status >= 400) {
      const kind = res.status < 500 ? 'Client' : 'Server';
      const reason = res.statusText || '';
      return { ok: false, error: `requests.exceptions.HTTPError: ${res.status} ${kind} Error: ${reason} for url: ${res.url || u.href}` };
    }
    return { ok: true, bytes };
  } catch (err) {
    out.destroy();
    await rm(dest, { force: true });
    if (signal.aborted) throw err;
    if (err instanceof SizeLimitError) return { ok: false, error: err.message };
    if (timedOut) {
      return { ok: false, error: `requests.exceptions.ReadTimeout: ${hostPort(u)}: Read timed out. (read timeout=${limits.timeoutMs / 1000})` };
    }
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code === 'ECONNREFUSED' ? '[Errno 111] Connection refused' : cause?.code === 'ENOTFOUND' ? '[Errno -2] Name or service not known' : (cause?.message ?? (err as Error).message);
    return {
      ok: false,
      error: `requests.exceptions.ConnectionError: ${hostPort(u)}: Max retries exceeded with url: ${u.pathname}${u.search} (Caused by NewConnectionError('Failed to establish a new connection: ${detail}'))`,
    };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onShutdown);
  }
}

class SizeLimitError extends Error {
  constructor(max: number) {
    super(`Exception: URL content exceeds this server's limit of ${max} bytes`);
  }
}
