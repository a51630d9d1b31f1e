/**
 * The account machine's tasks: myjobs, jobs_by_tag, submission_images and server_info, each
 * bound to the first server of the pool. Loaded by a Session on its first account question.
 */
import { fromPromise } from 'xstate';
import { accountMachine, createAccountMachine, type ServerInfo } from '../../machines/account.machine.js';
import type { Bounded } from '../../machines/solve.machine.js';
import * as api from '../protocol/api.js';
import { bind, type MachineDependencies } from './dependencies.js';

/** The account machine with its requests bound to one server and account, on the clock `deps.now`. */
export function provideAccountTasks(deps: MachineDependencies) {
  const { pool, exchangeContext, withSession } = bind(deps);
  // Account questions go to the first server: an account's jobs live where it uploaded them.
  const primary = (input: { deadline: number | null }): Bounded => ({ deadline: input.deadline, server: null });
  const login = fromPromise<void, { deadline: number | null }>(async ({ input, signal }) => {
    await pool.primary.login.acquire(
      (apiKey, loginSignal) => api.login(exchangeContext(loginSignal, primary(input)), apiKey).then((r) => r.session),
      signal,
    );
  });
  return (deps.now ? createAccountMachine(deps.now) : accountMachine).provide({
    actors: {
      login,
      readMyJobs: fromPromise<number[], { deadline: number | null }>(({ input, signal }) =>
        withSession(primary(input), (s) => api.myJobs(exchangeContext(signal, primary(input)), s)),
      ),
      readSubmissionImages: fromPromise<number[], { deadline: number | null; subid: number }>(({ input, signal }) =>
        withSession(primary(input), (s) => api.submissionImages(exchangeContext(signal, primary(input)), s, input.subid)),
      ),
      searchTags: fromPromise<number[], { deadline: number | null; query: string; exact: boolean }>(({ input, signal }) =>
        api.jobsByTag(exchangeContext(signal, primary(input)), input.query, input.exact),
      ),
      readServerInfo: fromPromise<ServerInfo | null, { deadline: number | null }>(
        async ({ input, signal }) => (await api.serverInfo(exchangeContext(signal, primary(input)))) as ServerInfo | null,
      ),
    },
    guards: { hasSession: () => pool.primary.login.hasSession },
  });
}
