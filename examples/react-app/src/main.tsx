import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Client } from 'astrometry-net-client';
import { App } from './App';
import { createAppMachine } from './app.machine';

// The server and key come from the page's query (?api=…&key=…).
const params = new URLSearchParams(location.search);
const client = new Client({
  apiUrl: params.get('api') ?? 'http://127.0.0.1:8080/api/',
  apiKey: params.get('key') ?? '',
  polling: { minIntervalMs: 250, maxIntervalMs: 1000 },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App machine={createAppMachine(client)} />
  </StrictMode>,
);
