/**
 * Django DB sessions as nova uses them (docs/nova-protocol.md#sessions):
 * - a key "exists" while its row exists, expired or not;
 * - an expired row loads as an empty session, so the user is "not authenticated." and the
 *   session is no longer "human" for the download gate;
 * - every successful authenticated call re-saves the row, sliding expiry by the full TTL;
 * - re-saving an expired session makes Django mint a *new* key the client never sees, so the
 *   old key stays expired until it is purged.
 */
import { createHash, randomInt } from 'node:crypto';
import type { ServerStore, SessionRow } from './store/server-store.js';

const KEY_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function randomString(length: number, alphabet: string): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** Session keys are stored as their sha256: the database never holds a usable key. */
export function sessionKeyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export class Sessions {
  constructor(
    private readonly store: ServerStore,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns the new session's key: the only time it exists outside the client. */
  async create(userId: number): Promise<string> {
    const key = randomString(32, KEY_ALPHABET);
    // nova's api_login sets session['human'] = True (since 2025-08).
    await this.store.createSession({ keyHash: sessionKeyHash(key), userId, human: true, expiresAt: this.now() + this.ttlMs });
    return key;
  }

  find(key: string): Promise<SessionRow | undefined> {
    return this.store.findSession(sessionKeyHash(key));
  }

  live(row: SessionRow): boolean {
    return row.expiresAt > this.now();
  }

  /** The logged-in user as Django would load it: none once expired. */
  userOf(row: SessionRow): number | null {
    return this.live(row) ? row.userId : null;
  }

  /** `session.save()` after a successful handler. */
  touch(row: SessionRow): Promise<void> {
    const now = this.now();
    return this.store.touchSession(row.keyHash, now, now + this.ttlMs);
  }

  /** Whether a `NovaAstrometrySession` cookie marks the client human for gated downloads. */
  async isHuman(cookieKey: string | undefined): Promise<boolean> {
    if (!cookieKey) return false;
    const row = await this.find(cookieKey);
    return row !== undefined && this.live(row) && row.human;
  }

  expireAll(mode: 'expired' | 'purged'): Promise<void> {
    return this.store.expireSessions(mode, this.now());
  }

  /** Drops rows that have been expired for longer than the TTL (bounded growth for `serve`). */
  purgeStale(): Promise<number> {
    return this.store.purgeSessions(this.now() - this.ttlMs);
  }
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    let v = part.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
    if (!out.has(k)) out.set(k, v);
  }
  return out;
}

export const SESSION_COOKIE = 'NovaAstrometrySession';

/** Django's session cookie attributes (defaults), with Max-Age from the TTL. */
export function sessionCookie(key: string, ttlMs: number, now = Date.now()): string {
  const maxAge = Math.round(ttlMs / 1000);
  const expires = new Date(now + maxAge * 1000).toUTCString();
  return `${SESSION_COOKIE}=${key}; expires=${expires}; HttpOnly; Max-Age=${maxAge}; Path=/; SameSite=Lax`;
}
