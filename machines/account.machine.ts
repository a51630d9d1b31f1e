/**
 * Questions about the account and the archive rather than one solve: the account's jobs,
 * jobs by tag, and a submission's images.
 *
 *   idle → loggingIn → readingMyJobs | readingSubmissionImages → done
 *      ↘ searchingTags (no session needed) ─────────────────────↗   ↘ failure
 */
import { assign, fromPromise, setup } from 'xstate';
import { serializeError, type SerializedError } from '../src/errors.js';

export type AccountQuery =
  | { kind: 'myJobs' }
  | { kind: 'jobsByTag'; query: string; exact: boolean }
  | { kind: 'submissionImages'; subid: number };

export interface AccountContext {
  query: AccountQuery;
  ids: number[] | null;
  error: SerializedError | null;
  relogins: number;
  deadline: number | null;
}

const notProvided = (name: string) => async (): Promise<never> => {
  throw new Error(`The "${name}" actor has no implementation: create the machine with provideAccountTasks().`);
};

/** Every request is bounded by the query's deadline (epoch ms), `null` for none. */
export interface AccountInput {
  query: AccountQuery;
  timeoutMs?: number | null;
}

export const accountMachine = setup({
  types: {
    context: {} as AccountContext,
    input: {} as AccountInput,
    events: {} as { type: 'START' } | { type: 'CANCEL' },
    output: {} as { ids: number[] | null; error: SerializedError | null },
  },
  actors: {
    /** POST /api/login (skipped when the session is held). */
    login: fromPromise<void, { deadline: number | null }>(notProvided('login')),
    /** POST /api/myjobs */
    readMyJobs: fromPromise<number[], { deadline: number | null }>(notProvided('readMyJobs')),
    /** GET /api/jobs_by_tag?query=…&exact=… */
    searchTags: fromPromise<number[], { query: string; exact: boolean; deadline: number | null }>(notProvided('searchTags')),
    /** POST /api/submission_images */
    readSubmissionImages: fromPromise<number[], { subid: number; deadline: number | null }>(notProvided('readSubmissionImages')),
  },
  guards: {
    hasSession: () => false,
    isTagSearch: ({ context }) => context.query.kind === 'jobsByTag',
    isSubmissionImages: ({ context }) => context.query.kind === 'submissionImages',
    /** The server dropped the session, and this query has not logged in again yet. */
    sessionExpiredOnce: ({ context, event }) =>
      context.relogins === 0 && ((event as { error?: { name?: string } }).error?.name === 'SessionExpiredError'),
  },
  actions: {
    relogin: assign({ relogins: ({ context }) => context.relogins + 1 }),
    recordError: assign({ error: ({ event }) => serializeError((event as { error?: unknown }).error) }),
  },
}).createMachine({
  id: 'account',
  context: ({ input }) => ({
    query: input.query,
    ids: null,
    error: null,
    relogins: 0,
    deadline: input.timeoutMs === undefined || input.timeoutMs === null ? null : Date.now() + input.timeoutMs,
  }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        START: [{ guard: 'isTagSearch', target: 'searchingTags' }, { guard: 'hasSession', target: 'withSession' }, { target: 'loggingIn' }],
        CANCEL: 'failure',
      },
    },
    loggingIn: {
      description: 'POST /api/login',
      invoke: {
        id: 'login',
        src: 'login',
        input: ({ context }) => ({ deadline: context.deadline }),
        onDone: 'withSession',
        onError: { target: 'failure', actions: 'recordError' },
      },
      on: { CANCEL: 'failure' },
    },
    withSession: {
      always: [{ guard: 'isSubmissionImages', target: 'readingSubmissionImages' }, { target: 'readingMyJobs' }],
    },
    readingMyJobs: {
      description: 'POST /api/myjobs',
      invoke: {
        id: 'readMyJobs',
        src: 'readMyJobs',
        input: ({ context }) => ({ deadline: context.deadline }),
        onDone: { target: 'done', actions: assign({ ids: ({ event }) => event.output }) },
        onError: [{ guard: 'sessionExpiredOnce', target: 'loggingIn', actions: 'relogin' }, { target: 'failure', actions: 'recordError' }],
      },
      on: { CANCEL: 'failure' },
    },
    readingSubmissionImages: {
      description: 'POST /api/submission_images',
      invoke: {
        id: 'readSubmissionImages',
        src: 'readSubmissionImages',
        input: ({ context }) => ({ subid: (context.query as { subid: number }).subid, deadline: context.deadline }),
        onDone: { target: 'done', actions: assign({ ids: ({ event }) => event.output }) },
        onError: [{ guard: 'sessionExpiredOnce', target: 'loggingIn', actions: 'relogin' }, { target: 'failure', actions: 'recordError' }],
      },
      on: { CANCEL: 'failure' },
    },
    searchingTags: {
      description: 'GET /api/jobs_by_tag',
      invoke: {
        id: 'searchTags',
        src: 'searchTags',
        input: ({ context }) => ({ ...(context.query as { query: string; exact: boolean }), deadline: context.deadline }),
        onDone: { target: 'done', actions: assign({ ids: ({ event }) => event.output }) },
        onError: { target: 'failure', actions: 'recordError' },
      },
      on: { CANCEL: 'failure' },
    },
    done: { type: 'final' },
    failure: { type: 'final' },
  },
  output: ({ context }) => ({ ids: context.ids, error: context.error }),
});
