/**
 * Each bad input seen accepted or crashing gets a clear ValidationError before any request,
 * naming the option, the value and what is allowed; and what must be accepted is.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { createActor } from 'xstate';
import { Client } from '../src/client/client.js';
import { ValidationError } from '../src/errors.js';
import { describeInput, type MemoryStore } from '../src/client/solve-input.js';
import { Session } from '../src/client/session.js';
import { API_KEY, fakeNova, requestLines } from './helpers/fake-nova.js';

const API = 'http://nova.test/api/';
const dir = mkdtempSync(join(tmpdir(), 'anc-bad-'));

function setup() {
  const transport = fakeNova();
  const client = new Client({ apiKey: API_KEY, apiUrl: API, transport, polling: { minIntervalMs: 0 }, retry: { retries: 0 } });
  return { transport, client };
}

async function refusedBeforeAnyRequest(run: (client: Client) => unknown): Promise<ValidationError> {
  const { transport, client } = setup();
  let error: unknown;
  try {
    await run(client);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ValidationError);
  await new Promise((r) => setTimeout(r, 10));
  expect(transport.requests).toHaveLength(0);
  return error as ValidationError;
}

describe('refused before any request, naming the option', () => {
  test.each(['{"__proto__":{}}', '{"constructor":1}', '{"toString":"x"}', '{"hasOwnProperty":true}'])(
    'options parsed from JSON %s are an unknown option, not a crash',
    async (text) => {
      const options = JSON.parse(text);
      const error = await refusedBeforeAnyRequest((c) => c.solve('https://example.org/a.jpg', options));
      expect(error.option).toBe(Object.keys(options)[0]);
      expect(error.allowed).toContain('a known option');
    },
  );

  test('a 0-byte file is refused; it would be uploaded and fail on the server', async () => {
    const path = join(dir, 'empty.fits');
    writeFileSync(path, '');
    const error = await refusedBeforeAnyRequest((c) => c.solve(path));
    expect(error).toMatchObject({ option: 'file', value: path });
    expect(error.allowed).toContain('0 bytes');
  });

  test.each([
    [{ retries: -1 }, 'retry.retries'],
    [{ retries: 1.5 }, 'retry.retries'],
    [{ baseDelayMs: -5 }, 'retry.baseDelayMs'],
    [{ maxDelayMs: 10, baseDelayMs: 100 }, 'retry.maxDelayMs'],
    [{ forbiddenDelayMs: Number.NaN }, 'retry.forbiddenDelayMs'],
    [{ tries: 3 }, 'retry.tries'],
  ])('retry %j is refused at %s', (retry, option) => {
    expect(() => new Session({ apiKey: API_KEY, apiUrl: API, transport: fakeNova(), retry: retry as never })).toThrow(
      expect.objectContaining({ option }),
    );
  });

  test('retries: Infinity means until the deadline, and is accepted', () => {
    expect(() => new Session({ apiKey: API_KEY, apiUrl: API, transport: fakeNova(), retry: { retries: Number.POSITIVE_INFINITY } })).not.toThrow();
  });

  test('scaleLower without scaleUpper is refused (it was sent as a half-open "ul" range)', async () => {
    const error = await refusedBeforeAnyRequest((c) => c.solve('https://example.org/a.jpg', { scaleLower: 1 }));
    expect(error.option).toBe('scaleUpper');
  });

  test.each([0, -1, Number.POSITIVE_INFINITY, '5000'])('a per-call timeoutMs of %j is refused', async (timeoutMs) => {
    const error = await refusedBeforeAnyRequest((c) => c.solve('https://example.org/a.jpg', { timeoutMs: timeoutMs as number }));
    expect(error.option).toBe('timeoutMs');
  });

  test.each(['stallTimeoutMs', 'maxJsonBytes', 'maxFileBytes'] as const)('%s of 0 is refused', (name) => {
    expect(() => new Session({ apiKey: API_KEY, apiUrl: API, transport: fakeNova(), [name]: 0 })).toThrow(expect.objectContaining({ option: name }));
  });
});

describe('accepted as a user would expect', () => {
  test('a WHATWG URL object is a URL upload', async () => {
    const { transport, client } = setup();
    const result = await client.solve(new URL('https://example.org/img/m42.jpg'));
    expect(result.calibration).toBeDefined();
    expect(requestLines(transport.requests)).toContain('POST /api/url_upload');
    expect(transport.requests.find((r) => r.path === '/api/url_upload')?.json?.url).toBe('https://example.org/img/m42.jpg');
  });

  test('a URL object with another scheme is refused like the string', () => {
    expect(() => describeInput(new URL('ftp://example.org/a.fits'), new Map())).toThrow(expect.objectContaining({ option: 'url' }));
  });
});

describe('in-memory inputs never collide across processes', () => {
  test('references are random: two stores, two inputs, two references', () => {
    const a: MemoryStore = new Map();
    const b: MemoryStore = new Map();
    const one = describeInput({ bytes: new Uint8Array([1]) }, a);
    const two = describeInput({ bytes: new Uint8Array([2]) }, b);
    expect(one).toMatchObject({ kind: 'memory' });
    expect((one as { ref: string }).ref).not.toBe((two as { ref: string }).ref);
    expect((one as { ref: string }).ref).toMatch(/^memory-[0-9a-f-]{36}$/);
  });

  test("a solve persisted before its upload, restored where another input is held, never uploads the other input's bytes", async () => {
    // Process A: a solve of bytes, persisted before it started.
    const first = new Session({ apiKey: API_KEY, apiUrl: API, transport: fakeNova() });
    const upload = describeInput({ bytes: new Uint8Array([1, 1, 1]), filename: 'a.fits' }, first.memory);
    const idle = createActor(first.machine, { input: { upload, options: {}, schedule: first.schedule } });
    idle.start();
    const persisted = JSON.parse(JSON.stringify(idle.getPersistedSnapshot()));
    idle.stop();

    // Process B holds an in-memory input of its own, then restores A's solve.
    const transport = fakeNova();
    const second = new Session({ apiKey: API_KEY, apiUrl: API, transport });
    describeInput({ bytes: new Uint8Array([2, 2, 2]), filename: 'b.fits' }, second.memory);
    const restored = createActor(second.machine, { snapshot: persisted } as Parameters<typeof createActor<typeof second.machine>>[1]);
    restored.subscribe({ error: () => undefined });
    restored.start();
    restored.send({ type: 'START' });
    await new Promise<void>((resolve) => restored.subscribe((s) => s.hasTag('settled') && resolve()));
    expect(restored.getSnapshot().context.error).toMatchObject({ code: 'validation', option: 'bytes' });
    expect(requestLines(transport.requests)).toEqual(['POST /api/login']);
  });
});

describe('misspelt options and inputs the server cannot use', () => {
  test('a misspelt client option is refused, naming the one meant', () => {
    let error: unknown;
    try {
      new Client({ apiKey: API_KEY, apiUrl: API, transport: fakeNova(), timeoutMS: 5 } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'validation', option: 'timeoutMS' });
    expect((error as ValidationError).allowed).toContain('did you mean "timeoutMs"?');
  });

  test('a misspelt key option does not put the key in the error', () => {
    const key = 'zyxwvutsrqponmlk';
    let error: unknown;
    try {
      new Client({ apikey: key, apiUrl: API, transport: fakeNova() } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'validation', option: 'apikey' });
    expect((error as ValidationError).allowed).toContain('did you mean "apiKey"?');
    expect(JSON.stringify((error as ValidationError).toJSON()) + (error as Error).message).not.toContain(key);
  });

  test('submit() names its own options: localExtraction and onStart are solve()\'s', async () => {
    const error = await refusedBeforeAnyRequest((c) => c.submit('https://example.org/a.jpg', { localExtraction: true } as never));
    expect(error).toMatchObject({ option: 'localExtraction' });
    expect(error.allowed).toContain('a known option of submit()');
  });

  test('a misspelt option of solve(), submit() or solveMany() is refused before any request, naming the one meant', async () => {
    const solve = await refusedBeforeAnyRequest((c) => c.solve('https://example.org/a.jpg', { scaleunits: 'degwidth' } as never));
    expect(solve).toMatchObject({ option: 'scaleunits' });
    expect(solve.allowed).toContain('did you mean "scaleUnits"?');
    const submit = await refusedBeforeAnyRequest((c) => c.submit('https://example.org/a.jpg', { timeoutMS: 5 } as never));
    expect(submit.allowed).toContain('did you mean "timeoutMs"?');
    const many = await refusedBeforeAnyRequest(async (c) => {
      for await (const _ of c.solveMany(['https://example.org/a.jpg'], { concurency: 4 } as never)) void _;
    });
    expect(many.allowed).toContain('did you mean "concurrency"?');
  });

  test('an album title longer than nova allows (64 characters) is refused before any request', async () => {
    const error = await refusedBeforeAnyRequest((c) => c.solve('https://example.org/a.jpg', { album: 'x'.repeat(100_000) }));
    expect(error.option).toBe('album');
    expect(error.allowed).toContain('1 to 64 characters');
    expect(String(error.value).length).toBeLessThan(100);
  });

  test('a source list without the image size is refused before any request', async () => {
    const sourceList = { x: [10, 20, 30], y: [5, 15, 25] };
    const error = await refusedBeforeAnyRequest((c) => c.solve({ sourceList }, { imageWidth: 100 }));
    expect(error.option).toBe('imageHeight');
    const both = await refusedBeforeAnyRequest((c) => c.solve({ sourceList }));
    expect(both.option).toBe('imageWidth');
    // With both, it goes.
    const { transport, client } = setup();
    const submission = client.submit({ sourceList }, { imageWidth: 100, imageHeight: 80 });
    await new Promise((r) => setTimeout(r, 10));
    submission.cancel();
    expect(requestLines(transport.requests).slice(0, 2)).toEqual(['POST /api/login', 'POST /api/upload']);
  });
});

test('a source list of more than a million positions is refused before any request', async () => {
  const x = Array.from({ length: 1_000_001 }, (_, i) => 1 + (i % 1000));
  const error = await refusedBeforeAnyRequest((c) => c.solve({ sourceList: { x, y: x } }, { imageWidth: 1000, imageHeight: 1000 }));
  expect(error).toMatchObject({ option: 'sourceList.x', allowed: 'at most 1000000 positions' });
});
