import { createRoot } from 'react-dom/client';
import { StrictMode } from 'react';
import { AstrometryProvider } from 'astrometry-net-client/react';
import { App } from './App';

// The server and key come from the page's query (?api=…&key=…), as `npm run example` prints them.
const params = new URLSearchParams(location.search);
const apiUrl = params.get('api') ?? 'http://127.0.0.1:8080/api/';
const apiKey = params.get('key') ?? '';

async function start() {
  // ?inspect=1 opens the Stately inspector; every event it sees is sanitized by the client.
  const inspect = params.has('inspect') ? (await import('@statelyai/inspect')).createBrowserInspector().inspect : undefined;
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      {apiKey ? (
        <AstrometryProvider options={{ apiUrl, apiKey, ...(inspect ? { inspect } : {}) }}>
          <App apiUrl={apiUrl} />
        </AstrometryProvider>
      ) : (
        <p className="error">Open this page with ?api=&lt;API URL&gt;&amp;key=&lt;API key&gt;, as printed by <code>npm run example</code>.</p>
      )}
    </StrictMode>,
  );
}
void start();
