/**
 * The clock the machines and their tasks read: epoch milliseconds. Deadlines, poll times and
 * stage stamps all come from it, so a test that passes a fake one (`MachineDependencies.now`)
 * drives a solve's schedule without waiting.
 */
export type Clock = () => number;

/**
 * The system clock. It reads `Date.now` at each call, not once at load: a test that fakes
 * `Date` (`vi.useFakeTimers`) still moves the default clock.
 */
export const systemClock: Clock = () => Date.now();
