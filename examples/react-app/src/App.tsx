import { useMachine, useSelector } from '@xstate/react';
import type { AppMachine } from './app.machine';

const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

export function App({ machine }: { machine: AppMachine }) {
  const [state, send] = useMachine(machine);
  // Where the child's solve stands, while it runs: loggingIn, uploading, jobRunning.reading…
  const solveState = useSelector(state.children.solve, (s) => s?.context.progress.state ?? null);
  const { result, error, attempts } = state.context;
  return (
    <main>
      <h1>A solve inside your own statechart</h1>
      <p>
        App: <code data-testid="app-state">{text(state.value)}</code>
        {solveState && (
          <>
            {' '}· solve: <code data-testid="solve-state">{solveState}</code>
          </>
        )}
      </p>
      <input data-testid="file" type="file" accept="image/*,.fits,.fit,.gz" onChange={(e) => e.target.files?.[0] && send({ type: 'PICK', file: e.target.files[0] })} />
      {state.matches('solving') && <button onClick={() => send({ type: 'CANCEL' })}>Cancel</button>}
      {state.matches('showing') && result && (
        <table data-testid="calibration" data-attempt={attempts}>
          <tbody>
            <tr><td>Attempt</td><td>{attempts}</td></tr>
            <tr><td>Submission</td><td data-field="subid">{result.subid}</td></tr>
            <tr><td>Job</td><td data-field="jobId">{result.jobId}</td></tr>
            <tr><td>RA (°)</td><td data-field="ra">{result.calibration.ra.toFixed(5)}</td></tr>
            <tr><td>Dec (°)</td><td data-field="dec">{result.calibration.dec.toFixed(5)}</td></tr>
            <tr><td>Scale ("/px)</td><td data-field="pixscale">{result.calibration.pixscale.toFixed(3)}</td></tr>
          </tbody>
        </table>
      )}
      {state.matches('showing') && error && (
        <p className="error" data-testid="error" data-code={error.code}>
          {error.code}: {error.message}
        </p>
      )}
      {state.matches('showing') && (
        <button data-testid="retry" onClick={() => send({ type: 'RETRY' })}>
          Solve again
        </button>
      )}
    </main>
  );
}
