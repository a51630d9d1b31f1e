/**
 * The worker-side fetch of `url_upload` submissions (docs/nova-protocol.md#url-fetch): `User-Agent:
 * Mozilla/5.0`, an inactivity timeout (10 s in nova), the body written first and the HTTP
 * status checked after. Failures come back as the exception line Python's `requests` would
 * print, since that is what ends up in the submission's `error_message`.
 */
import { lookup } from 'node:dns/promises';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { BlockList, isIP } from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';

export interface UrlFetchLimits {
  timeoutMs: number;
  maxBytes: number;
  /** Fetch loopback, link-local and private addresses too (`serve --allow-private-urls`). */
  allowPrivate?: boolean;
}

/** Where a URL from a stranger must not lead: this host, its networks, and special ranges. */
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6');
}

export function isPrivateAddress(ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return PRIVATE.check(mapped[1] as string, 'ipv4');
  const family = isIP(ip);
  if (family === 0) return true;
  return PRIVATE.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

class PrivateAddressError extends Error {
  readonly code = 'EPRIVATEADDRESS';
}

/**
 * Resolves the host once, refuses private addresses, and connects to exactly the address it
 * checked (no second lookup a rebinding DNS server could answer differently). Every redirect
 * hop connects through here too.
 */
function guardedDispatcher(): Agent {
  const connect = buildConnector({});
  return new Agent({
    connect: (opts, cb) => {
      const host = opts.hostname.replace(/^\[|\]$/g, '');
      const resolved = isIP(host) ? Promise.resolve([{ address: host }]) : lookup(host, { all: true });
      resolved.then(
        (addrs) => {
          const bad = addrs.find((a) => isPrivateAddress(a.address));
          const first = addrs[0];
          if (bad || !first) {
            const what = bad ? `${bad.address} is a loopback, link-local or private address` : 'no address';
            cb(new PrivateAddressError(`refused to fetch from ${host}: ${what} (serve --allow-private-urls allows it)`), null);
            return;
          }
          const servername = opts.servername ?? (isIP(host) ? undefined : host);
          connect({ ...opts, hostname: first.address, ...(servername ? { servername } : {}) }, cb);
        },
        (err: Error) => cb(err, null),
      );
    },
  });
}

let guarded: Agent | undefined;

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
    const init = { headers: { 'user-agent': 'Mozilla/5.0' }, redirect: 'follow' as const, signal: ctl.signal };
    const res = limits.allowPrivate ? await fetch(u, init) : await undiciFetch(u, { ...init, dispatcher: (guarded ??= guardedDispatcher()) });
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
