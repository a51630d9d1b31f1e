/**
 * When to ask the server again: one adaptive schedule for every server.
 *
 * The wait before the next poll is a fixed fraction of the time the phase has already taken,
 * clamped between a floor and a ceiling: `wait = clamp(elapsed × fraction, floor, max)`. The
 * detection lag therefore stays a small share of the time already waited (at most 10 % by
 * default), while the number of polls grows with the logarithm of the job's length rather than
 * linearly. nova's front end blocks clients that poll faster than every few seconds (see
 * docs/nova-protocol.md#polling), so against nova.astrometry.net the floor is 5 s; elsewhere it is 1 s. A server that
 * holds status reads (`serve`, long polling) is asked again as soon as a held read returns.
 */
import { ValidationError } from '../errors.js';
import { isPublicNova } from '../protocol/urls.js';

export interface PollSchedule {
  /** No two polls closer than this: 5000 against nova.astrometry.net, 1000 elsewhere. */
  minIntervalMs: number;
  /** The longest wait between polls. Default 30 000. */
  maxIntervalMs: number;
  /** Each wait is this share of the time the phase has taken so far. Default 0.1. */
  fraction: number;
  /** Random shortening of each wait, as a share: 0.1 is up to 10 % sooner (never below the floor). */
  jitter: number;
}

export const NOVA_MIN_INTERVAL_MS = 5000;
const OTHER_MIN_INTERVAL_MS = 1000;
const SCHEDULE_KEYS = ['minIntervalMs', 'maxIntervalMs', 'fraction', 'jitter'] as const;

export function defaultPollSchedule(apiUrl: string): PollSchedule {
  return {
    minIntervalMs: isPublicNova(apiUrl) ? NOVA_MIN_INTERVAL_MS : OTHER_MIN_INTERVAL_MS,
    maxIntervalMs: 30_000,
    fraction: 0.1,
    jitter: 0.1,
  };
}

/** Merges user overrides into the default schedule, validating each. */
export function resolvePollSchedule(apiUrl: string, overrides: Partial<PollSchedule> | undefined): PollSchedule {
  if (overrides !== undefined && (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides))) {
    throw new ValidationError('polling', overrides, 'an object such as { minIntervalMs: 5000 }');
  }
  for (const key of Object.keys(overrides ?? {})) {
    if (!(SCHEDULE_KEYS as readonly string[]).includes(key)) {
      throw new ValidationError(`polling.${key}`, (overrides as Record<string, unknown>)[key], `a known setting: ${SCHEDULE_KEYS.join(', ')}`);
    }
  }
  const defaults = defaultPollSchedule(apiUrl);
  const schedule = { ...defaults, ...overrides };
  // A floor given alone lifts the ceiling with it, so `{ minIntervalMs: 60000 }` is valid too.
  if (overrides?.maxIntervalMs === undefined) schedule.maxIntervalMs = Math.max(defaults.maxIntervalMs, schedule.minIntervalMs);
  for (const key of ['minIntervalMs', 'maxIntervalMs'] as const) {
    const v = schedule[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ValidationError(`polling.${key}`, v, 'milliseconds, 0 or more');
  }
  if (typeof schedule.fraction !== 'number' || !(schedule.fraction > 0 && schedule.fraction <= 1)) {
    throw new ValidationError('polling.fraction', schedule.fraction, 'a share greater than 0, at most 1');
  }
  if (typeof schedule.jitter !== 'number' || !(schedule.jitter >= 0 && schedule.jitter < 1)) {
    throw new ValidationError('polling.jitter', schedule.jitter, 'a share from 0 to below 1');
  }
  if (isPublicNova(apiUrl) && schedule.minIntervalMs < NOVA_MIN_INTERVAL_MS) {
    throw new ValidationError(
      'polling.minIntervalMs',
      schedule.minIntervalMs,
      `at least ${NOVA_MIN_INTERVAL_MS} against nova.astrometry.net (its front end blocks faster pollers)`,
    );
  }
  if (schedule.maxIntervalMs < schedule.minIntervalMs) {
    throw new ValidationError('polling.maxIntervalMs', schedule.maxIntervalMs, `at least polling.minIntervalMs (${schedule.minIntervalMs})`);
  }
  return schedule;
}

/** The wait before the next poll, when the phase has run for `elapsedMs`. */
export function pollDelay(schedule: PollSchedule, elapsedMs: number, random: number = Math.random()): number {
  const base = Math.min(Math.max(elapsedMs * schedule.fraction, schedule.minIntervalMs), schedule.maxIntervalMs);
  // Jitter only shortens, so the lag bound (a `fraction` of the time waited) still holds.
  return Math.round(Math.max(base * (1 - schedule.jitter * random), schedule.minIntervalMs));
}
