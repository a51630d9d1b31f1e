/**
 * Questions about the account and the archive rather than one solve: the account's jobs,
 * jobs by tag, and a submission's images.
 *
 *   idle → loggingIn → readingMyJobs | readingSubmissionImages → done
 *      ↘ searchingTags (no session needed) ─────────────────────↗   ↘ failure
 */
import { assign, fromPromise, setup } from 'xstate';
import type { SerializedError } from '../src/errors.js';
import { notProvided, serialiseError, sessionExpiredOnce } from '../src/machine-support.js';

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

const PROVIDER = 'provideAccountRuntime';

export const accountMachine = setup({
  types: {
    context: {} as AccountContext,
    input: {} as { query: AccountQuery },
    events: {} as { type: 'START' } | { type: 'CANCEL' },
    output: {} as { ids: number[] | null; error: SerializedError | null },
  },
  actors: {
    /** POST /api/login (skipped when the session is held). */
    login: fromPromise<void, void>(notProvided('login', PROVIDER)),
    /** POST /api/myjobs */
    readMyJobs: fromPromise<number[], void>(notProvided('readMyJobs', PROVIDER)),
    /** GET /api/jobs_by_tag?query=…&exact=… */
    searchTags: fromPromise<number[], { query: string; exact: boolean }>(notProvided('searchTags', PROVIDER)),
    /** POST /api/submission_images */
    readSubmissionImages: fromPromise<number[], { subid: number }>(notProvided('readSubmissionImages', PROVIDER)),
  },
  guards: {
    hasSession: () => false,
    isTagSearch: ({ context }) => context.query.kind === 'jobsByTag',
    isSubmissionImages: ({ context }) => context.query.kind === 'submissionImages',
    sessionExpiredOnce: ({ context, event }) => sessionExpiredOnce(context.relogins, event),
  },
  actions: {
    relogin: assign({ relogins: ({ context }) => context.relogins + 1 }),
    recordError: assign({ error: ({ event }) => serialiseError((event as { error?: unknown }).error) }),
  },
}).createMachine({
  id: 'account',
  context: ({ input }) => ({ query: input.query, ids: null, error: null, relogins: 0 }),
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
      invoke: { id: 'login', src: 'login', onDone: 'withSession', onError: { target: 'failure', actions: 'recordError' } },
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
        input: ({ context }) => ({ subid: (context.query as { subid: number }).subid }),
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
        input: ({ context }) => context.query as { query: string; exact: boolean },
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
