/** What request handlers share: the server's state and services, and one request/response. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FormLimits } from './forms.js';
import type { LongPollConfig } from './long-poll.js';
import type { Dumpable } from './python.js';
import type { Processor } from './processor.js';
import type { Sessions } from './sessions.js';
import type { ServerStore, UserRow } from './store/server-store.js';

export interface ServerContext {
  store: ServerStore;
  sessions: Sessions;
  processor: Processor;
  findUserByKey(key: string): UserRow | undefined;
  formLimits: FormLimits;
  longPoll: LongPollConfig;
  /** Rows an x/y list may have (`x`, `y` in an upload's JSON, as a source-list file). */
  maxSourceRows: number;
  /** The body of GET /api/server_info, fixed at start. */
  serverInfo: Dumpable;
  log: (line: string) => void;
}

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Percent-decoded path without the leading slash, as Django's URL resolver sees it. */
  path: string;
}
