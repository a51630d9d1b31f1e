/**
 * React bindings: share one client between components, and follow a solve's statechart from a
 * component. `astrometry-net-client/react`; needs `react` (and `@xstate/react` only if you use
 * `session.machine` with its hooks yourself).
 *
 * Solves start from an event handler (`solve(file)`), never from an effect, so React's
 * double-invoked effects in development cannot upload a file twice.
 */
import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactElement,
  type ReactNode,
} from 'react';
import type { SolveSnapshot } from '../../machines/solve.machine.js';
import { Client, type ClientOptions } from '../client/client.js';
import type { SolveInput } from '../client/solve-input.js';
import type { Calibration } from '../protocol/models.js';
import type { UploadOptions } from '../protocol/upload-options.js';
import type { FileResultKind, ResultFile } from '../protocol/result-kinds.js';
import { reviveError, type AstrometryNetError } from '../errors.js';
import { stateName } from '../client/started-solve.js';
import type { Submission } from '../client/submission.js';

const ClientContext = createContext<Client | null>(null);

export interface AstrometryProviderProps {
  /** A client to share; or `options` to make one (kept for the provider's lifetime). */
  client?: Client;
  options?: ClientOptions;
  children?: ReactNode;
}

/** Shares one client, hence one login, with every component below it. */
export function AstrometryProvider({ client, options, children }: AstrometryProviderProps): ReactElement {
  const [made] = useState(() => client ?? new Client(options));
  return createElement(ClientContext.Provider, { value: client ?? made }, children);
}

/** The client of the nearest AstrometryProvider. */
export function useAstrometryClient(): Client {
  const client = useContext(ClientContext);
  if (!client) throw new Error('useAstrometryClient() needs an <AstrometryProvider> above it.');
  return client;
}

export type SolvePhase = 'idle' | 'running' | 'success' | 'failure';

export interface SolveView {
  /** Where the statechart is: `uploading`, `submissionPending.waiting`, `jobRunning.reading`, … */
  state: string;
  phase: SolvePhase;
  upload: { sentBytes: number; totalBytes: number | null } | null;
  subid: number | null;
  jobId: number | null;
  calibration: Calibration | null;
  error: AstrometryNetError | null;
  /** Result files fetched so far, by kind. */
  files: Partial<Record<FileResultKind, ResultFile>>;
  snapshot: SolveSnapshot | null;
}

export interface UseSolve extends SolveView {
  /** Starts a solve (cancelling the one before, if any). */
  solve(input: SolveInput, options?: UploadOptions): Submission;
  /** Fetches a result file once; later calls return the cached one. */
  fetchFile(kind: FileResultKind): Promise<ResultFile>;
  cancel(): void;
}

const IDLE: SolveView = {
  state: 'idle',
  phase: 'idle',
  upload: null,
  subid: null,
  jobId: null,
  calibration: null,
  error: null,
  files: {},
  snapshot: null,
};

export function viewOf(snapshot: SolveSnapshot | null): SolveView {
  if (!snapshot) return IDLE;
  const { context } = snapshot;
  const settled = snapshot.hasTag('settled');
  return {
    state: stateName(snapshot.value),
    phase: !settled ? (snapshot.hasTag('idle') ? 'idle' : 'running') : context.error ? 'failure' : 'success',
    upload: context.uploadProgress,
    subid: context.subid,
    jobId: context.jobId,
    calibration: context.results.calibration ?? null,
    error: context.error ? reviveError(context.error) : null,
    files: context.results.files ?? {},
    snapshot,
  };
}

/** Follows one solve at a time: its state, upload progress, calibration and files. */
export function useSolve(client?: Client): UseSolve {
  const fromContext = useContext(ClientContext);
  const active = client ?? fromContext;
  if (!active) throw new Error('useSolve() needs a client: pass one, or render it inside <AstrometryProvider>.');
  const [submission, setSubmission] = useState<Submission | null>(null);
  const viewCache = useRef<{ snapshot: SolveSnapshot | null; view: SolveView }>({ snapshot: null, view: IDLE });

  const subscribe = useCallback(
    (onChange: () => void) => {
      if (!submission) return () => undefined;
      const sub = submission.handle.actor.subscribe({ next: onChange, error: onChange });
      return () => sub.unsubscribe();
    },
    [submission],
  );
  const getView = useCallback(() => {
    const snapshot = submission ? submission.handle.snapshot : null;
    if (viewCache.current.snapshot !== snapshot) viewCache.current = { snapshot, view: viewOf(snapshot) };
    return viewCache.current.view;
  }, [submission]);
  const view = useSyncExternalStore(subscribe, getView, getView);

  // A solve belongs to the component that started it: leaving the page cancels it.
  useEffect(() => () => submission?.cancel('The component showing this solve was unmounted.'), [submission]);

  const solve = useCallback(
    (input: SolveInput, options?: UploadOptions) => {
      const next = active.submit(input, options ?? {});
      setSubmission(next);
      return next;
    },
    [active],
  );
  const fetchFile = useCallback(
    async (kind: FileResultKind) => {
      if (!submission) throw new Error('No solve has been started.');
      const job = submission.jobs[0] ?? (await submission.untilDone());
      return job.file(kind);
    },
    [submission],
  );
  const cancel = useCallback(() => submission?.cancel(), [submission]);
  return useMemo(() => ({ ...view, solve, fetchFile, cancel }), [view, solve, fetchFile, cancel]);
}
