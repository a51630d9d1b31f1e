/**
 * The login: holds the API key and the one session every solve of a client shares.
 *
 * Both secrets live in private fields, outside any machine context, so they never reach a
 * snapshot, an inspector event or `console.log(client)`. Concurrent solves that need a session
 * at the same time share a single login request; that request is aborted only when every solve
 * waiting for it has given up, so cancelling one solve never fails the others.
 */
import { AbortedError } from '../errors.js';

interface Flight {
  promise: Promise<string>;
  controller: AbortController;
  waiters: number;
}

export class SharedLogin {
  readonly #apiKey: string | (() => string);
  #session: string | undefined;
  #flight: Flight | undefined;

  /** `apiKey` may be a function: it is then resolved at the first login, so reading public
   * results (status, files) never needs a key. */
  constructor(apiKey: string | (() => string)) {
    this.#apiKey = apiKey;
  }

  /** Whether a session is held now (no request is needed to use it). */
  get hasSession(): boolean {
    return this.#session !== undefined;
  }

  /** The session held now, if any. Only the login state obtains one; other requests use it. */
  get current(): string | undefined {
    return this.#session;
  }

  /**
   * The current session, or one login through `doLogin` shared by every concurrent caller.
   * `signal` aborts this caller's wait; the login itself stops once no caller is waiting.
   */
  acquire(doLogin: (apiKey: string, signal: AbortSignal) => Promise<string>, signal?: AbortSignal): Promise<string> {
    if (this.#session !== undefined) return Promise.resolve(this.#session);
    const flight = (this.#flight ??= this.#startLogin(doLogin));
    flight.waiters++;
    return new Promise<string>((resolve, reject) => {
      const onAbort = () => {
        flight.waiters--;
        if (flight.waiters === 0) {
          // Nobody wants this login any more; a later caller starts a fresh one.
          if (this.#flight === flight) this.#flight = undefined;
          flight.controller.abort();
        }
        reject(new AbortedError('Cancelled while logging in.'));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (session) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(session);
        },
        (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  #startLogin(doLogin: (apiKey: string, signal: AbortSignal) => Promise<string>): Flight {
    const controller = new AbortController();
    const flight: Flight = { controller, waiters: 0, promise: undefined as unknown as Promise<string> };
    flight.promise = Promise.resolve()
      .then(() => doLogin(typeof this.#apiKey === 'function' ? this.#apiKey() : this.#apiKey, controller.signal))
      .then(
        (session) => {
          if (this.#flight === flight) this.#flight = undefined;
          if (!controller.signal.aborted) this.#session = session;
          return session;
        },
        (error: unknown) => {
          if (this.#flight === flight) this.#flight = undefined;
          throw error;
        },
      );
    // Waiters attach their own handlers; this one keeps an abandoned login from being unhandled.
    flight.promise.catch(() => undefined);
    return flight;
  }

  /** Forgets `session` if it is still the current one (another solve may have replaced it). */
  invalidate(session: string): void {
    if (this.#session === session) this.#session = undefined;
  }

  toJSON(): { hasSession: boolean } {
    return { hasSession: this.hasSession };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `SharedLogin { hasSession: ${this.hasSession} }`;
  }
}
