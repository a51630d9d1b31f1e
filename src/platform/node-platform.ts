/**
 * The Node platform: undici for HTTP, environment variables, and the API key file
 * (`$XDG_CONFIG_HOME/astrometry-net/api-key`, default `~/.config/astrometry-net/api-key`).
 * Importing this module installs it.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, readFileSync, statSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../errors.js';
import { usePlatform, type Platform } from './web-platform.js';
import { undiciTransport } from '../transport/undici.js';
import { FileCacheStore } from './file-cache-store.js';

/** Where the API key file is looked for. */
export function keyFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'astrometry-net', 'api-key');
}

export const nodePlatform: Platform = {
  name: 'node',
  defaultTransport: () => undiciTransport(),
  env: (name) => process.env[name],
  keyFilePath: () => keyFilePath(),
  readKeyFile: () => {
    try {
      return readFileSync(keyFilePath(), 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  },
  checkReadableFile: (path) => {
    let stats: ReturnType<typeof statSync>;
    try {
      stats = statSync(path);
      accessSync(path, constants.R_OK);
    } catch {
      throw new ValidationError('file', path, 'a readable image file (this path does not exist or cannot be read)');
    }
    if (!stats.isFile()) throw new ValidationError('file', path, 'a file, not a directory');
    if (stats.size === 0) throw new ValidationError('file', path, 'a non-empty image file (this one has 0 bytes)');
  },
  readFile: async (path) => {
    nodePlatform.checkReadableFile(path);
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  },
  sha256File: async (path) => {
    nodePlatform.checkReadableFile(path);
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    return hash.digest('hex');
  },
  fileCacheStore: (dir, maxBytes) => new FileCacheStore(dir, maxBytes),
  readFileHead: async (path, maxBytes) => {
    const file = await open(path, 'r');
    try {
      const buf = new Uint8Array(maxBytes);
      const { bytesRead } = await file.read(buf, 0, maxBytes, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  },
};

usePlatform(nodePlatform);
