/**
 * When to ask the server again.
 *
 * nova's maintainer asks clients to poll gently, and its front end blocks fast pollers with a
 * 403 (nova-api.md §7.3), so against nova.astrometry.net no two polls are closer than 5 s.
 * A local server can be polled fast. Waits grow geometrically to a cap, with jitter so that a
 * pipeline's many solves do not poll in lockstep.
 */
import { ValidationError } from './errors.js';
import { isPublicNova } from './protocol/urls.js';

export interface PollSchedule {
  /** Wait before the first poll of a phase (after the upload, after the job id appeared). */
  firstDelayMs: number;
  /** No two polls closer than this. 5000 against nova.astrometry.net. */
  minIntervalMs: number;
  /** The longest wait between polls. */
  maxIntervalMs: number;
  /** Each wait is this many times the previous one. */
  factor: number;
  /** Random spread of each wait, as a fraction: 0.1 is ±10 %. */
  jitter: number;
}

export const NOVA_MIN_INTERVAL_MS = 5000;

export function defaultPollSchedule(apiUrl: string): PollSchedule {
  return isPublicNova(apiUrl)
    ? { firstDelayMs: 5000, minIntervalMs: 5000, maxIntervalMs: 60_000, factor: 1.5, jitter: 0.1 }
    : { firstDelayMs: 250, minIntervalMs: 100, maxIntervalMs: 5000, factor: 1.5, jitter: 0.1 };
}

/** Merges user overrides into the default schedule, validating each. */
export function resolvePollSchedule(apiUrl: string, overrides: Partial<PollSchedule> | undefined): PollSchedule {
  const schedule = { ...defaultPollSchedule(apiUrl), ...overrides };
  for (const key of ['firstDelayMs', 'minIntervalMs', 'maxIntervalMs'] as const) {
    const v = schedule[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ValidationError(`polling.${key}`, v, 'milliseconds, 0 or more');
  }
  if (!(schedule.factor >= 1) || !Number.isFinite(schedule.factor)) {
    throw new ValidationError('polling.factor', schedule.factor, 'a number of at least 1');
  }
  if (!(schedule.jitter >= 0 && schedule.jitter < 1)) throw new ValidationError('polling.jitter', schedule.jitter, 'a fraction from 0 to below 1');
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

/** The wait before poll number `attempt` (0-based) of a phase. */
export function pollDelay(schedule: PollSchedule, attempt: number, random: number = Math.random()): number {
  const base = Math.min(schedule.firstDelayMs * schedule.factor ** attempt, schedule.maxIntervalMs);
  const spread = base * schedule.jitter * (random * 2 - 1);
  return Math.round(Math.min(Math.max(base + spread, schedule.minIntervalMs), schedule.maxIntervalMs));
}
