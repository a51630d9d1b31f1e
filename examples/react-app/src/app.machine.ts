import { assign, setup } from 'xstate';
import { createSolveLogic, type AstrometryNetError, type Client, type SolveLogicOutput } from 'astrometry-net-client';

/** The app's own statechart; the solve is an invoked child, typed by `createSolveLogic(client)`. */
export function createAppMachine(client: Client) {
  return setup({
    types: {
      context: {} as { file: File | null; attempts: number; result: SolveLogicOutput | null; error: AstrometryNetError | null },
      events: {} as { type: 'PICK'; file: File } | { type: 'RETRY' } | { type: 'CANCEL' },
    },
    actors: { solve: createSolveLogic(client) },
  }).createMachine({
    id: 'app',
    context: { file: null, attempts: 0, result: null, error: null },
    initial: 'picking',
    states: {
      picking: {
        on: { PICK: { target: 'solving', actions: assign({ file: ({ event }) => event.file }) } },
      },
      solving: {
        entry: assign({ attempts: ({ context }) => context.attempts + 1, result: null, error: null }),
        invoke: {
          id: 'solve',
          src: 'solve',
          input: ({ context }) => ({
            input: { blob: context.file as File },
            options: { scaleUnits: 'degwidth', scaleLower: 1, scaleUpper: 40 },
          }),
          onDone: { target: 'showing', actions: assign({ result: ({ event }) => event.output }) },
          onError: { target: 'showing', actions: assign({ error: ({ event }) => event.error as AstrometryNetError }) },
        },
        on: { CANCEL: 'picking' },
      },
      showing: {
        on: { RETRY: 'solving', PICK: { target: 'solving', actions: assign({ file: ({ event }) => event.file }) } },
      },
    },
  });
}

export type AppMachine = ReturnType<typeof createAppMachine>;
