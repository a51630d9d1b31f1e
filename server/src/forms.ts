/**
 * Reads a request body the way Django fills `request.POST` / `request.FILES`: only for POST,
 * only for urlencoded or multipart bodies. Anything else (a raw JSON body, a GET query)
 * leaves POST empty, which is why nova answers "no json" to those (docs/nova-protocol.md#request-encoding).
 */
import type { IncomingMessage } from 'node:http';
import { bodyChunks } from './body.js';
import { BadRequestError, BodyTooLargeError, boundaryOf, parseMultipart, type ParsedForm } from './multipart.js';

export { BadRequestError, BodyTooLargeError } from './multipart.js';
export type { ParsedForm, UploadedFile } from './multipart.js';

export interface FormLimits {
  maxBodyBytes: number;
  /** Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) for non-file data. */
  maxFieldBytes: number;
  tmpDir: string;
}

export const DJANGO_MAX_MEMORY_SIZE = 2_621_440;

export async function readForm(req: IncomingMessage, limits: FormLimits): Promise<ParsedForm> {
  if (req.method !== 'POST') {
    await discardBody(req, limits.maxBodyBytes);
    return { fields: new Map() };
  }
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) {
    const boundary = boundaryOf(req.headers['content-type'] ?? '');
    if (boundary === null) {
      await discardBody(req, limits.maxBodyBytes);
      throw new BadRequestError('multipart without boundary');
    }
    return parseMultipart(bodyChunks(req), boundary, {
      maxBodyBytes: limits.maxBodyBytes,
      maxFieldBytes: limits.maxFieldBytes,
      tmpDir: limits.tmpDir,
    });
  }
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const raw = await readBody(req, Math.min(limits.maxBodyBytes, Number.MAX_SAFE_INTEGER), limits.maxFieldBytes);
    return { fields: parseUrlencoded(raw.toString('utf8')) };
  }
  await discardBody(req, limits.maxBodyBytes);
  return { fields: new Map() };
}

export function parseUrlencoded(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(text)) {
    const list = out.get(k) ?? [];
    list.push(v);
    out.set(k, list);
  }
  return out;
}

/** Django's `QueryDict.get`: the last value of a repeated key. */
export function lastValue(fields: Map<string, string[]>, name: string): string | undefined {
  const list = fields.get(name);
  return list === undefined ? undefined : list[list.length - 1];
}

async function readBody(req: IncomingMessage, maxBodyBytes: number, maxFieldBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  let tooBig = false;
  for await (const chunk of bodyChunks(req)) {
    total += chunk.length;
    if (total > maxBodyBytes) throw new BodyTooLargeError();
    if (total > maxFieldBytes) tooBig = true;
    if (!tooBig) chunks.push(chunk);
  }
  if (tooBig) throw new BadRequestError('request data too big');
  return Buffer.concat(chunks);
}

/** Reads and drops a body we do not use, so the connection stays usable. */
export async function discardBody(req: IncomingMessage, maxBodyBytes: number): Promise<void> {
  if (req.readableEnded) return;
  let total = 0;
  for await (const chunk of bodyChunks(req)) {
    total += chunk.length;
    if (total > maxBodyBytes) throw new BodyTooLargeError();
  }
}
