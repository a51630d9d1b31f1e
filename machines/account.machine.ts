/**
 * Questions about the account and the archive rather than one solve: the account's jobs,
 * jobs by tag, and a submission's images.
 *
 *   idle → loggingIn → readingMyJobs | readingSubmissionImages → done
 *      ↘ searchingTags (no session needed) ─────────────────────↗   ↘ failure
 */
import { assign, fromPromise, setup } from 'xstate';
import { AbortedError, serializeError, type SerializedError } from '../src/errors.js';
import { systemClock, type Clock } from '../src/tasks/clock.js';

export type AccountQuery =
  | { kind: 'myJobs' }
  | { kind: 'jobsByTag'; query: string; exact: boolean }
  | { kind: 'submissionImages'; subid: number }
  | { kind: 'serverInfo' };

export interface AccountContext {
  query: AccountQuery;
  ids: number[] | null;
  /** What `GET /api/server_info` said; `null` on a server without it (nova). */
  serverInfo: ServerInfo | null;
  error: SerializedError | null;
  relogins: number;
  deadline: number | null;
}

const notProvided = (name: string) => async (): Promise<never> => {
  throw new Error(`The "${name}" actor has no implementation: create the machine with provideAccountTasks().`);
};

/** What a server of this package says of itself (`GET /api/server_info`); field names as sent. */
export interface ServerInfo {
  server: string;
  version: string;
  solver: { name: string; version: string | null };
  /** The installed index files, and the field widths (arcminutes) they solve; `null` for a simulated solver. */
  index: {
    dirs: string[];
    files: number;
    series: { series: string; name: string; scales: number[]; files: number }[];
    field_width_arcmin: [number, number][];
    summary: string;
  } | null;
  limits: Record<string, number | null>;
}

export interface AccountOutput {
  ids: number[] | null;
  serverInfo: ServerInfo | null;
  error: SerializedError | null;
}

/** Every request is bounded by the query's deadline (epoch ms), `null` for none. */
export interface AccountInput {
  query: AccountQuery;
  timeoutMs?: number | null;
}

/**
 * The account machine on a clock: `now` (epoch ms) starts the query's deadline. The tasks pass
 * theirs (`MachineDependencies.now`); `accountMachine` is this on the system clock.
 */
export function createAccountMachine(now: Clock) {
  return setup({
    types: {
      context: {} as AccountContext,
      input: {} as AccountInput,
      events: {} as { type: 'START' } | { type: 'CANCEL' },
      output: {} as AccountOutput,
    },
    actors: {
      /** POST /api/login (skipped when the session is held). */
      login: fromPromise<void, { deadline: number | null }>(notProvided('login')),
      /** POST /api/myjobs */
      readMyJobs: fromPromise<number[], { deadline: number | null }>(notProvided('readMyJobs')),
      /** GET /api/jobs_by_tag?query=…&exact=… */
      searchTags: fromPromise<number[], { query: string; exact: boolean; deadline: number | null }>(notProvided('searchTags')),
      /** GET /api/server_info (an extension of `serve`; `null` where absent). */
      readServerInfo: fromPromise<ServerInfo | null, { deadline: number | null }>(notProvided('readServerInfo')),
      /** POST /api/submission_images */
      readSubmissionImages: fromPromise<number[], { subid: number; deadline: number | null }>(notProvided('readSubmissionImages')),
    },
    guards: {
      hasSession: () => false,
      isTagSearch: ({ context }) => context.query.kind === 'jobsByTag',
      isServerInfo: ({ context }) => context.query.kind === 'serverInfo',
      isSubmissionImages: ({ context }) => context.query.kind === 'submissionImages',
      /** The server dropped the session, and this query has not logged in again yet. */
      sessionExpiredOnce: ({ context, event }) =>
        context.relogins === 0 && ((event as { error?: { name?: string } }).error?.name === 'SessionExpiredError'),
    },
    actions: {
      relogin: assign({ relogins: ({ context }) => context.relogins + 1 }),
      /** The ids a query answered (the account's jobs, a tag search's, a submission's images). */
      storeIds: assign({ ids: ({ event }) => (event as unknown as { output: number[] }).output }),
      storeServerInfo: assign({ serverInfo: ({ event }) => (event as unknown as { output: ServerInfo | null }).output }),
      recordError: assign({ error: ({ event }) => serializeError((event as { error?: unknown }).error) }),
      recordCancel: assign({ error: () => new AbortedError('The query was cancelled.').toJSON() }),
    },
  }).createMachine({
    id: 'account',
    context: ({ input }) => ({
      query: input.query,
      ids: null,
      serverInfo: null,
      error: null,
      relogins: 0,
      deadline: input.timeoutMs === undefined || input.timeoutMs === null ? null : now() + input.timeoutMs,
    }),
    initial: 'idle',
    states: {
      idle: {
        on: {
          START: [
            { guard: 'isTagSearch', target: 'searchingTags' },
            { guard: 'isServerInfo', target: 'readingServerInfo' },
            { guard: 'hasSession', target: 'withSession' },
            { target: 'loggingIn' },
          ],
          CANCEL: { target: 'failure', actions: 'recordCancel' },
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
        on: { CANCEL: { target: 'failure', actions: 'recordCancel' } },
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
          onDone: { target: 'done', actions: 'storeIds' },
          onError: [{ guard: 'sessionExpiredOnce', target: 'loggingIn', actions: 'relogin' }, { target: 'failure', actions: 'recordError' }],
        },
        on: { CANCEL: { target: 'failure', actions: 'recordCancel' } },
      },
      readingSubmissionImages: {
        description: 'POST /api/submission_images',
        invoke: {
          id: 'readSubmissionImages',
          src: 'readSubmissionImages',
          input: ({ context }) => ({ subid: (context.query as { subid: number }).subid, deadline: context.deadline }),
          onDone: { target: 'done', actions: 'storeIds' },
          onError: [{ guard: 'sessionExpiredOnce', target: 'loggingIn', actions: 'relogin' }, { target: 'failure', actions: 'recordError' }],
        },
        on: { CANCEL: { target: 'failure', actions: 'recordCancel' } },
      },
      searchingTags: {
        description: 'GET /api/jobs_by_tag',
        invoke: {
          id: 'searchTags',
          src: 'searchTags',
          input: ({ context }) => ({ ...(context.query as { query: string; exact: boolean }), deadline: context.deadline }),
          onDone: { target: 'done', actions: 'storeIds' },
          onError: { target: 'failure', actions: 'recordError' },
        },
        on: { CANCEL: { target: 'failure', actions: 'recordCancel' } },
      },
      readingServerInfo: {
        description: 'GET /api/server_info',
        invoke: {
          id: 'readServerInfo',
          src: 'readServerInfo',
          input: ({ context }) => ({ deadline: context.deadline }),
          onDone: { target: 'done', actions: 'storeServerInfo' },
          onError: { target: 'failure', actions: 'recordError' },
        },
        on: { CANCEL: { target: 'failure', actions: 'recordCancel' } },
      },
      done: { type: 'final' },
      failure: { type: 'final' },
    },
    output: ({ context }) => ({ ids: context.ids, serverInfo: context.serverInfo, error: context.error }),
  });
}

/** The account machine on the system clock. */
export const accountMachine = createAccountMachine(systemClock);
