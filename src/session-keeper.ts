/**
 * Holds the API key and the one session every solve of a client shares.
 *
 * Both secrets live in private fields, outside any machine context, so they never reach a
 * snapshot, an inspector event or `console.log(client)`. Concurrent solves that need a session
 * at the same time share a single login request.
 */
export class SessionKeeper {
  readonly #apiKey: string | (() => string);
  #session: string | undefined;
  #pending: Promise<string> | undefined;

  /** `apiKey` may be a function: it is then resolved at the first login, so reading public
   * results (status, files) never needs a key. */
  constructor(apiKey: string | (() => string)) {
    this.#apiKey = apiKey;
  }

  /** Whether a session is held now (no request is needed to use it). */
  get hasSession(): boolean {
    return this.#session !== undefined;
  }

  /** The current session, or a login through `doLogin` shared by every concurrent caller. */
  acquire(doLogin: (apiKey: string) => Promise<string>): Promise<string> {
    if (this.#session !== undefined) return Promise.resolve(this.#session);
    this.#pending ??= Promise.resolve()
      .then(() => doLogin(typeof this.#apiKey === 'function' ? this.#apiKey() : this.#apiKey))
      .then(
      (session) => {
        this.#session = session;
        this.#pending = undefined;
        return session;
      },
      (error: unknown) => {
        this.#pending = undefined;
        throw error;
      },
    );
    return this.#pending;
  }

  /** Forgets `session` if it is still the current one (another solve may have replaced it). */
  invalidate(session: string): void {
    if (this.#session === session) this.#session = undefined;
  }

  toJSON(): { hasSession: boolean } {
    return { hasSession: this.hasSession };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `SessionKeeper { hasSession: ${this.hasSession} }`;
  }
}
