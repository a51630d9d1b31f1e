/**
 * The undici transport on a real socket: uploads with an exact Content-Length, and nothing left
 * open or hanging when a request is aborted or a server stalls.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync, writeFileSync, mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, ProxyAgent } from 'undici';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { undiciTransport } from '../src/transport/undici.js';

let server: Server;
let url: string;
interface Seen {
  contentLength?: string | undefined;
  received: number;
  body?: Buffer;
}
const seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const entry: Seen = { contentLength: req.headers['content-length'], received: 0 };
    seen.push(entry);
    if (req.url === '/stall') return; // never answers
    if (req.url === '/big') {
      const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0);
      for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(big.length) }).end(big);
      return;
    }
    if (req.url === '/trickle') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('.'), 50);
      res.on('close', () => clearInterval(timer));
      return;
    }
    // Never reads the body: the upload stops once the buffers between are full.
    if (req.url === '/slow-upload') return;
    // Keeps the body, and reads it in fits and starts, so the client's writes often stop half
    // done and wait for the socket to drain.
    if (req.url === '/keep-slowly') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        entry.received += chunk.length;
        if (chunks.length % 16 === 0) {
          req.pause();
          setTimeout(() => req.resume(), 2);
        }
      });
      req.on('end', () => {
        entry.body = Buffer.concat(chunks);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('{"status": "success"}');
      });
      return;
    }
    req.on('data', (chunk: Buffer) => (entry.received += chunk.length));
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('{"status": "success"}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(
  () =>
    new Promise((resolve) => {
      // Requests to /stall and /slow-upload are never answered: their sockets must not hold close().
      server.closeAllConnections();
      server.close(resolve);
    }),
);

const openFiles = (path: string) =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  }).length;

// Larger than every buffer between the file and a server that never reads (1 MiB file reads,
// the socket's send and receive buffers), so an upload can be caught mid-body.
const bigFile = (size = 32 * 1024 * 1024, bytes = Buffer.alloc(size, 1)) => {
  const path = join(mkdtempSync(join(tmpdir(), 'anc-undici-')), 'big.fits');
  writeFileSync(path, bytes);
  return path;
};

/** The file part of a multipart body as the server received it. */
function filePart(body: Buffer): Buffer {
  const start = body.indexOf('\r\n\r\n', body.indexOf('filename="big.fits"')) + 4;
  const end = body.lastIndexOf('\r\n--');
  expect(body.subarray(end).toString('latin1')).toMatch(/^\r\n--[-\w]+--\r\n$/);
  return body.subarray(start, end);
}

/** An upload of a big file to a server that never reads it: abortable at any point. */
function slowUpload() {
  const path = bigFile();
  const controller = new AbortController();
  const pending = undiciTransport().request({
    method: 'POST',
    url: `${url}/slow-upload`,
    body: { kind: 'multipart', fields: {}, file: { field: 'file', filename: 'big.fits', source: { kind: 'path', path } } },
    signal: controller.signal,
  });
  return { path, controller, pending };
}

test('a file upload is sent with an exact Content-Length and arrives whole', async () => {
  const path = bigFile();
  const transport = undiciTransport();
  const response = await transport.request({
    method: 'POST',
    url: `${url}/upload`,
    body: { kind: 'multipart', fields: { 'request-json': '{}' }, file: { field: 'file', filename: 'big.fits', source: { kind: 'path', path } } },
  });
  expect(response.status).toBe(200);
  const last = seen[seen.length - 1]!;
  expect(Number(last.contentLength)).toBe(last.received);
  expect(last.received).toBeGreaterThan(32 * 1024 * 1024);
  expect(openFiles(path)).toBe(0);
});

test('a big file arrives byte for byte, though its read buffers are reused, and so do bytes and a Blob', async () => {
  // Not a repeated byte: a chunk sent twice, or overwritten before it left, must show.
  const bytes = randomBytes(24 * 1024 * 1024 + 12345);
  const transport = undiciTransport();
  const sources = [
    { kind: 'path' as const, path: bigFile(bytes.length, bytes) },
    { kind: 'bytes' as const, bytes },
    { kind: 'blob' as const, blob: new Blob([bytes]) },
  ];
  for (const source of sources) {
    const progress: number[] = [];
    const response = await transport.request({
      method: 'POST',
      url: `${url}/keep-slowly`,
      body: { kind: 'multipart', fields: { 'request-json': '{"session": "s"}' }, file: { field: 'file', filename: 'big.fits', source } },
      onUploadProgress: (sent) => progress.push(sent),
    });
    expect(response.status).toBe(200);
    const last = seen[seen.length - 1]!;
    expect(Number(last.contentLength), source.kind).toBe(last.received);
    expect(last.body!.toString('latin1', 0, 200)).toContain('name="request-json"\r\n\r\n{"session": "s"}\r\n');
    expect(filePart(last.body!).equals(bytes), source.kind).toBe(true);
    expect(progress.at(-1)).toBe(last.received);
  }
});

test("through a caller's dispatcher whose sockets buffer 4 MiB, a big file still arrives byte for byte", async () => {
  // With a high-water mark above the 1 MiB chunks, undici asks for the next chunk before the
  // last one left: read buffers reused there would be overwritten while queued.
  const dispatcher = new Agent({ connect: { highWaterMark: 4 << 20 } as Agent.Options['connect'] });
  const bytes = randomBytes(24 * 1024 * 1024 + 777);
  const response = await undiciTransport({ dispatcher }).request({
    method: 'POST',
    url: `${url}/keep-slowly`,
    body: { kind: 'multipart', fields: {}, file: { field: 'file', filename: 'big.fits', source: { kind: 'path', path: bigFile(bytes.length, bytes) } } },
  });
  expect(response.status).toBe(200);
  expect(filePart(seen[seen.length - 1]!.body!).equals(bytes)).toBe(true);
  await dispatcher.close();
});

test('through an undici ProxyAgent passed as dispatcher (as the README says for a proxy), an upload goes via the proxy and arrives whole', async () => {
  // A proxy on 127.0.0.1 that tunnels CONNECT and forwards absolute-URI requests, counting both.
  const via: string[] = [];
  const proxy = createServer((req, res) => {
    via.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '');
    const forward = httpRequest({ host: target.hostname, port: target.port, path: target.pathname, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    req.pipe(forward);
  });
  proxy.on('connect', (req, client: Socket, head: Buffer) => {
    via.push(`CONNECT ${req.url}`);
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const dispatcher = new ProxyAgent(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
  try {
    const bytes = randomBytes(3 * 1024 * 1024 + 5);
    const response = await undiciTransport({ dispatcher }).request({
      method: 'POST',
      url: `${url}/keep-slowly`,
      body: { kind: 'multipart', fields: {}, file: { field: 'file', filename: 'big.fits', source: { kind: 'path', path: bigFile(bytes.length, bytes) } } },
    });
    expect(response.status).toBe(200);
    expect(filePart(seen[seen.length - 1]!.body!).equals(bytes)).toBe(true);
    expect(via).toHaveLength(1);
    expect(via[0]).toContain(new URL(url).host);
  } finally {
    await dispatcher.close();
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
  }
});

test('a small file is sent whole in one buffer, framed the same way', async () => {
  const bytes = randomBytes(1000);
  const response = await undiciTransport().request({
    method: 'POST',
    url: `${url}/keep-slowly`,
    body: { kind: 'multipart', fields: {}, file: { field: 'file', filename: 'big.fits', source: { kind: 'path', path: bigFile(bytes.length, bytes) } } },
  });
  expect(response.status).toBe(200);
  const last = seen[seen.length - 1]!;
  expect(Number(last.contentLength)).toBe(last.received);
  expect(filePart(last.body!).equals(bytes)).toBe(true);
});

test('an upload aborted before it started sending closes its file', async () => {
  const { path, controller, pending } = slowUpload();
  controller.abort();
  await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  await new Promise((r) => setTimeout(r, 300));
  expect(openFiles(path)).toBe(0);
});

test('an upload aborted mid-body closes its file', async () => {
  const { path, controller, pending } = slowUpload();
  await expect.poll(() => openFiles(path)).toBe(1);
  controller.abort();
  await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  await expect.poll(() => openFiles(path)).toBe(0);
});

test('a bounded request fails with a NetworkError when the server never answers, and when it trickles its body', async () => {
  const transport = undiciTransport();
  await expect(transport.request({ method: 'GET', url: `${url}/stall`, timeoutMs: 200 })).rejects.toMatchObject({
    code: 'network',
    message: expect.stringContaining('No complete answer'),
  });
  // Bytes keep moving, so only the overall bound ends it.
  await expect(transport.request({ method: 'GET', url: `${url}/trickle`, timeoutMs: 300, stallTimeoutMs: 200 })).rejects.toMatchObject({
    code: 'network',
    message: expect.stringContaining('No complete answer'),
  });
});

test('a stall timeout ends a request whose answer never starts', async () => {
  const transport = undiciTransport();
  await expect(transport.request({ method: 'GET', url: `${url}/stall`, stallTimeoutMs: 200 })).rejects.toMatchObject({
    code: 'network',
    message: expect.stringContaining('Stalled'),
  });
});

test('a stall timeout ends an upload the server stops reading, and closes its file', async () => {
  const path = bigFile();
  const pending = undiciTransport().request({
    method: 'POST',
    url: `${url}/slow-upload`,
    body: { kind: 'multipart', fields: {}, file: { field: 'file', filename: 'big.fits', source: { kind: 'path', path } } },
    stallTimeoutMs: 300,
  });
  await expect(pending).rejects.toMatchObject({ code: 'network', message: expect.stringContaining('Stalled') });
  await expect.poll(() => openFiles(path)).toBe(0);
});

test('a large answer of declared length arrives whole, in one buffer of that length', async () => {
  // Not chunks and then their concatenation: no second copy is made.
  const concat = vi.spyOn(Buffer, 'concat');
  const response = await undiciTransport().request({ method: 'GET', url: `${url}/big` });
  expect(concat).not.toHaveBeenCalled();
  concat.mockRestore();
  expect(response.body.byteLength).toBe(3 * 1024 * 1024 + 7);
  expect(response.body.buffer.byteLength).toBe(3 * 1024 * 1024 + 7);
  expect(response.body[4096 * 5]).toBe(5);
  expect(response.body[4096 * 300]).toBe(300 & 0xff);
});

test('an answer larger than maxResponseBytes is refused, declared or streamed', async () => {
  const transport = undiciTransport();
  // The upload endpoint answers 21 bytes with a Content-Length.
  await expect(transport.request({ method: 'POST', url: `${url}/upload`, maxResponseBytes: 20 })).rejects.toMatchObject({
    code: 'response_too_large',
    limit: 20,
  });
  await expect(transport.request({ method: 'POST', url: `${url}/upload`, maxResponseBytes: 21 })).resolves.toMatchObject({ status: 200 });
  // The trickle has no Content-Length: it is counted as it arrives.
  await expect(transport.request({ method: 'GET', url: `${url}/trickle`, maxResponseBytes: 3 })).rejects.toMatchObject({
    code: 'response_too_large',
  });
});
