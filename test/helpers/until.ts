/**
 * Polls `probe` until `ok` accepts its value, or fails naming `what` after `timeoutMs`: the one
 * wait-for-a-condition of the tests that watch processes, servers and databases from outside.
 */
export async function until<T>(
  what: string,
  probe: () => T | Promise<T>,
  ok: (value: T) => boolean,
  { timeoutMs = 30_000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `until` for a probe that answers `undefined` while the thing is not there yet. */
export const untilDefined = <T>(what: string, probe: () => T | undefined, timeoutMs?: number): Promise<T> =>
  until(what, probe, (v) => v !== undefined, timeoutMs === undefined ? {} : { timeoutMs }) as Promise<T>;
