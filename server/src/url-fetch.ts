/**
 * The worker-side fetch of `url_upload` submissions (docs/nova-protocol.md#url-fetch): `User-Agent:
 * Mozilla/5.0`, an inactivity timeout (10 s in nova), the body written first and the HTTP
 * status checked after. Failures come back as the exception line Python's `requests` would
 * print, since that is what ends up in the submission's `error_message`.
 */
import { lookup } from 'node:dns/promises';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
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
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 3], // multicast, reserved, broadcast
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 96], // unspecified, loopback, and the deprecated IPv4-compatible addresses
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments: Teredo (whose IPv4 is hidden), benchmarking 2001:2::/48, ORCHID
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6');
}

/** The 16 bytes of an IPv6 address (`::`, and a dotted IPv4 tail, expanded). */
function ipv6Bytes(ip: string): number[] | undefined {
  let text = ip.toLowerCase().replace(/%.*$/, '');
  const v4Tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4Tail) {
    const [a, b, c, d] = (v4Tail[1] as string).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -(v4Tail[1] as string).length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  if (groups.length !== 8) return undefined;
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/**
 * The IPv4 address an IPv6 one carries to its destination, where it carries one: mapped
 * (`::ffff:a.b.c.d`, also written `::ffff:7f00:1`), NAT64 (`64:ff9b::/96`) and 6to4
 * (`2002:AABB:CCDD::/16`). A private IPv4 inside is as private as the IPv4 itself.
 */
function embeddedIpv4(bytes: readonly number[]): string | undefined {
  const is = (prefix: readonly number[]) => prefix.every((b, i) => bytes[i] === b);
  if (is([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]) || is([0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0])) return bytes.slice(12).join('.');
  if (is([0x20, 0x02])) return bytes.slice(2, 6).join('.');
  return undefined;
}

/** This machine's own addresses: every address of every interface, now (interfaces change). */
function ownAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
}

/** Whether `ip` is one of `own` (IPv6 compared in full, whatever its notation). */
function isOwnAddress(ip: string, family: 4 | 6, own: readonly string[]): boolean {
  if (family === 4) return own.includes(ip);
  const bytes = ipv6Bytes(ip)?.join(',');
  return own.some((a) => isIP(a) === 6 && ipv6Bytes(a)?.join(',') === bytes);
}

/** Whether a URL from a stranger must not lead to `ip`; `own`: this machine's addresses. */
export function isPrivateAddress(ip: string, own: readonly string[] = ownAddresses()): boolean {
  const family = isIP(ip);
  if (family === 0) return true;
  if (family === 4) return PRIVATE.check(ip, 'ipv4') || isOwnAddress(ip, 4, own);
  const bytes = ipv6Bytes(ip);
  if (!bytes) return true;
  const v4 = embeddedIpv4(bytes);
  if (v4 !== undefined) return isPrivateAddress(v4, own);
  return PRIVATE.check(ip, 'ipv6') || isOwnAddress(ip, 6, own);
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
            const what = bad ? `${bad.address} is this machine's, or a loopback, link-local, private or reserved address` : 'no address';
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
        // once() rejects on 'error' too: a write that fails (a full disk) ends the fetch, not hangs it.
        if (!out.write(value)) await once(out, 'drain');
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
