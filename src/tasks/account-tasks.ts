/**
 * The account machine's tasks: myjobs, jobs_by_tag, submission_images and server_info, each
 * bound to the first server of the pool. Loaded by a Session on its first account question.
 */
import { createActor, fromPromise, toPromise, type InspectionEvent } from 'xstate';
import { accountMachine, createAccountMachine, type AccountOutput, type AccountQuery, type ServerInfo } from '../../machines/account.machine.js';
import { reviveError } from '../errors.js';
import type { Bounded } from '../../machines/solve.machine.js';
import * as api from '../protocol/api.js';
import * as account from '../protocol/account-api.js';
import { bind, type MachineDependencies } from './dependencies.js';

/** The account machine with its requests bound to one server and account, on the clock `deps.now`. */
export function provideAccountTasks(deps: MachineDependencies) {
  const { pool, exchangeContext, withSession, movable } = bind(deps);
  // Account questions go to the first server: an account's jobs live where it uploaded them.
  const primary = (input: { deadline: number | null }): Bounded => ({ deadline: input.deadline, server: null });
  const login = fromPromise<void, { deadline: number | null }>(async ({ input, signal }) => {
    await pool.primary.login.acquire(
      // A login to a server that refuses connections gives up after unreachableAfterMs, as a solve's does.
      (apiKey, loginSignal) => api.login(exchangeContext(loginSignal, primary(input), movable(primary(input))), apiKey).then((r) => r.session),
      signal,
    );
  });
  return (deps.now ? createAccountMachine(deps.now) : accountMachine).provide({
    actors: {
      login,
      readMyJobs: fromPromise<number[], { deadline: number | null }>(({ input, signal }) =>
        withSession(primary(input), (s) => account.myJobs(exchangeContext(signal, primary(input)), s)),
      ),
      readSubmissionImages: fromPromise<number[], { deadline: number | null; subid: number }>(({ input, signal }) =>
        withSession(primary(input), (s) => account.submissionImages(exchangeContext(signal, primary(input)), s, input.subid)),
      ),
      searchTags: fromPromise<number[], { deadline: number | null; query: string; exact: boolean }>(({ input, signal }) =>
        account.jobsByTag(exchangeContext(signal, primary(input)), input.query, input.exact),
      ),
      readServerInfo: fromPromise<ServerInfo | null, { deadline: number | null }>(
        async ({ input, signal }) => (await account.serverInfo(exchangeContext(signal, primary(input)))) as ServerInfo | null,
      ),
    },
    guards: { hasSession: () => pool.primary.login.hasSession },
  });
}

/** Runs one account query as its own machine; throws its typed error (cancellation included). */
export async function runAccountQuery(
  machine: ReturnType<typeof provideAccountTasks>,
  query: AccountQuery,
  options: { timeoutMs: number | null; inspect: ((event: InspectionEvent) => void) | undefined; signal: AbortSignal | undefined },
): Promise<AccountOutput> {
  const { signal } = options;
  const actor = createActor(machine, {
    input: { query, timeoutMs: options.timeoutMs },
    ...(options.inspect ? { inspect: options.inspect } : {}),
  });
  const onAbort = () => actor.send({ type: 'CANCEL' });
  signal?.addEventListener('abort', onAbort, { once: true });
  actor.start();
  if (signal?.aborted) onAbort();
  actor.send({ type: 'START' });
  try {
    const output = await toPromise(actor);
    if (output.error) throw reviveError(output.error);
    return output;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
