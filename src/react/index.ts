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
import type { UploadOptions } from '../protocol/upload-options.js';
import type { FileResultKind, ResultFile } from '../protocol/result-kinds.js';
import { viewOf, type SolveView } from '../client/solve-view.js';
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

export { viewOf, type SolveView, type SolvePhase, type SolveStage } from '../client/solve-view.js';

/** What `useSolve()` returns: the solve's view, its snapshot, and what to do with it. */
export interface UseSolve extends SolveView {
  /** The solve's statechart snapshot; `null` before the first solve. */
  snapshot: SolveSnapshot | null;
  /** Starts a solve (cancelling the one before, if any). */
  solve(input: SolveInput, options?: UploadOptions): Submission;
  /** Fetches a result file once; later calls return the cached one. */
  fetchFile(kind: FileResultKind): Promise<ResultFile>;
  cancel(): void;
}

/** Follows one solve at a time: its state, upload progress, calibration and files. */
export function useSolve(client?: Client): UseSolve {
  const fromContext = useContext(ClientContext);
  const active = client ?? fromContext;
  if (!active) throw new Error('useSolve() needs a client: pass one, or render it inside <AstrometryProvider>.');
  const [submission, setSubmission] = useState<Submission | null>(null);
  const viewCache = useRef<{ snapshot: SolveSnapshot | null; view: SolveView }>({ snapshot: null, view: viewOf(null) });

  const subscribe = useCallback(
    (onChange: () => void) => {
      if (!submission) return () => undefined;
      const sub = submission.handle.actor.subscribe({ next: onChange, error: onChange });
      return () => sub.unsubscribe();
    },
    [submission],
  );
  // One view per snapshot: useSyncExternalStore needs the same object until the snapshot changes.
  const getCached = useCallback(() => {
    const snapshot = submission ? submission.handle.snapshot : null;
    if (viewCache.current.snapshot !== snapshot) viewCache.current = { snapshot, view: viewOf(snapshot) };
    return viewCache.current;
  }, [submission]);
  const { snapshot, view } = useSyncExternalStore(subscribe, getCached, getCached);

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
  return useMemo(() => ({ ...view, snapshot, solve, fetchFile, cancel }), [view, snapshot, solve, fetchFile, cancel]);
}
