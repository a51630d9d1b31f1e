/**
 * Questions about the account and the archive rather than one solve:
 * the account's jobs (`myjobs`), jobs by tag, and a submission's images.
 *
 *   idle → loggingIn → querying → done
 *                  ↘        ↘ failure
 *
 * `jobs_by_tag` needs no session, so it goes straight to querying.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { SerializedError } from '../src/errors.js';

export type AccountQuery =
  | { kind: 'myJobs' }
  | { kind: 'jobsByTag'; query: string; exact: boolean }
  | { kind: 'submissionImages'; subid: number };

export interface AccountContext {
  query: AccountQuery;
  ids: number[] | null;
  error: SerializedError | null;
  relogins: number;
}

const notProvided = (name: string) => async (): Promise<never> => {
  throw new Error(`The "${name}" actor has no implementation: create the machine with provideAccountRuntime().`);
};

function serialise(error: unknown): SerializedError {
  const e = error as { toJSON?: () => SerializedError; message?: string };
  return typeof e?.toJSON === 'function' ? e.toJSON() : { name: 'Error', code: 'network', message: String(e?.message ?? error) };
}

export const accountMachine = setup({
  types: {
    context: {} as AccountContext,
    input: {} as { query: AccountQuery },
    events: {} as { type: 'START' } | { type: 'CANCEL' },
    output: {} as { ids: number[] | null; error: SerializedError | null },
  },
  actors: {
    /** POST /api/login (skipped when the session is held). */
    login: fromPromise<void, void>(notProvided('login')),
    /** POST /api/myjobs, GET /api/jobs_by_tag or POST /api/submission_images. */
    queryAccount: fromPromise<number[], { query: AccountQuery }>(notProvided('queryAccount')),
  },
  guards: {
    hasSession: () => false,
    needsNoSession: ({ context }) => context.query.kind === 'jobsByTag',
    sessionExpiredOnce: ({ context, event }) =>
      context.relogins === 0 && (event as { error?: { name?: string } }).error?.name === 'SessionExpiredError',
  },
}).createMachine({
  id: 'account',
  context: ({ input }) => ({ query: input.query, ids: null, error: null, relogins: 0 }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        START: [{ guard: 'needsNoSession', target: 'querying' }, { guard: 'hasSession', target: 'querying' }, { target: 'loggingIn' }],
        CANCEL: 'failure',
      },
    },
    loggingIn: {
      invoke: {
        id: 'login',
        src: 'login',
        onDone: 'querying',
        onError: { target: 'failure', actions: assign({ error: ({ event }) => serialise(event.error) }) },
      },
      on: { CANCEL: 'failure' },
    },
    querying: {
      invoke: {
        id: 'queryAccount',
        src: 'queryAccount',
        input: ({ context }) => ({ query: context.query }),
        onDone: { target: 'done', actions: assign({ ids: ({ event }) => event.output }) },
        onError: [
          { guard: 'sessionExpiredOnce', target: 'loggingIn', actions: assign({ relogins: ({ context }) => context.relogins + 1 }) },
          { target: 'failure', actions: assign({ error: ({ event }) => serialise(event.error) }) },
        ],
      },
      on: { CANCEL: 'failure' },
    },
    done: { type: 'final' },
    failure: { type: 'final' },
  },
  output: ({ context }) => ({ ids: context.ids, error: context.error }),
});
