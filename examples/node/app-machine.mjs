#!/usr/bin/env node
// An app's own statechart that invokes a solve as a child actor, with nothing but exported names:
//
//   picking ─PICK→ solving ─(done or error)→ showing ─RETRY→ solving …
//
// Run after `npm run build`:
//   node examples/node/app-machine.mjs [--solver simulated|solve-field]
//       starts the in-repo server, solves the sample, retries once, prints each state and the requests
//   node examples/node/app-machine.mjs --api URL --key KEY --image PATH --save FILE
//       saves the app's snapshot as soon as the server has the upload, then exits at once (a crash)
//   node examples/node/app-machine.mjs --api URL --key KEY --restore FILE
//       continues that app in this new process, with a new client: the upload is not sent again
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assign, createActor, setup } from 'xstate';
import { Client, createSolveLogic } from '../../dist/src/index.js';

/** The app: its own states and context; the solve is one invoked child among its states. */
export function createAppMachine(client) {
  return setup({ actors: { solve: createSolveLogic(client) } }).createMachine({
    id: 'app',
    context: { image: null, attempts: 0, result: null, error: null },
    initial: 'picking',
    states: {
      picking: {
        on: { PICK: { target: 'solving', actions: assign({ image: ({ event }) => event.image }) } },
      },
      solving: {
        entry: assign({ attempts: ({ context }) => context.attempts + 1, result: null, error: null }),
        invoke: {
          id: 'solve',
          src: 'solve',
          input: ({ context }) => ({ input: context.image, options: { scaleUnits: 'degwidth', scaleLower: 1, scaleUpper: 40 } }),
          // The output: subid, jobId, calibration (and any files asked for with `prefetch`).
          onDone: {
            target: 'showing',
            actions: assign({ result: ({ event }) => ({ subid: event.output.subid, jobId: event.output.jobId, calibration: event.output.calibration }) }),
          },
          // A typed AstrometryNetError: `code`, `subid`, `jobId`; it serialises with the snapshot.
          onError: { target: 'showing', actions: assign({ error: ({ event }) => event.error }) },
        },
        on: { CANCEL: 'picking' },
      },
      showing: {
        on: { RETRY: 'solving', PICK: { target: 'solving', actions: assign({ image: ({ event }) => event.image }) } },
      },
    },
  });
}

const arg = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const polling = { minIntervalMs: 200, maxIntervalMs: 1000 };

/** Resolves with the app's snapshot once it shows a result. */
function untilShowing(app) {
  return new Promise((resolve) => {
    const sub = app.subscribe((s) => s.matches('showing') && (sub.unsubscribe(), resolve(s)));
  });
}

function show(snapshot) {
  const { result, error, attempts } = snapshot.context;
  if (error) return `showing   attempt ${attempts}: ${error.code} (subid ${error.subid ?? '-'}, job ${error.jobId ?? '-'})`;
  const c = result.calibration;
  return `showing   attempt ${attempts}: RA ${c.ra.toFixed(4)}  Dec ${c.dec.toFixed(4)}  subid ${result.subid}  job ${result.jobId}`;
}

if (arg('--save')) {
  const client = new Client({ apiUrl: arg('--api'), apiKey: arg('--key'), polling });
  const app = createActor(createAppMachine(client)).start();
  app.send({ type: 'PICK', image: arg('--image') });
  // Saved while the child is mid-solve: the server has the upload, the job is not done.
  // The child reports where its solve stands in context.progress (a part of the solve's view).
  const solve = app.getSnapshot().children.solve;
  const sub = solve.subscribe((s) => {
    const { subid, state } = s.context.progress;
    if (subid === null) return;
    sub.unsubscribe();
    writeFileSync(arg('--save'), JSON.stringify(app.getPersistedSnapshot()));
    console.log(`saved     app ${JSON.stringify(app.getSnapshot().value)}, solve ${JSON.stringify(state)}, subid ${subid}`);
    process.exit(0);
  });
} else if (arg('--restore')) {
  const client = new Client({ apiUrl: arg('--api'), apiKey: arg('--key'), polling });
  const app = createActor(createAppMachine(client), { snapshot: JSON.parse(readFileSync(arg('--restore'), 'utf8')) }).start();
  console.log(`restored  app ${JSON.stringify(app.getSnapshot().value)}`);
  console.log(show(await untilShowing(app)));
} else {
  const { startServer } = await import('astrometry-net-server');
  const server = await startServer({ port: 0, solver: arg('--solver') ?? 'solve-field' });
  try {
    const client = new Client({ apiUrl: server.url, apiKey: server.apiKeys[0], polling });
    const app = createActor(createAppMachine(client)).start();
    app.subscribe((s) => s.matches('solving') && console.log(`solving   attempt ${s.context.attempts}`));
    console.log(`picking`);
    app.send({ type: 'PICK', image: fileURLToPath(new URL('../../assets/sample.png', import.meta.url)) });
    console.log(show(await untilShowing(app)));
    app.send({ type: 'RETRY' });
    console.log(show(await untilShowing(app)));
    console.log(`requests  ${server.requests.map((r) => r.endpoint).join(' ')}`);
  } finally {
    await server.close();
  }
}
