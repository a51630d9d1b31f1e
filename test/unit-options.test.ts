/**
 * Upload options and inputs are validated before any request (nova validates nothing: a bad
 * value fails the job later, a typo is ignored, a zero is dropped). Each refusal names the
 * option, the value and what is allowed.
 */
import { describe, expect, test } from 'vitest';
import { Client } from '../src/client/client.js';
import { ValidationError } from '../src/errors.js';
import { describeInput, type MemoryStore, type SolveInput } from '../src/client/solve-input.js';
import { encodeUploadOptions, UPLOAD_OPTION_NAMES, type UploadOptions } from '../src/protocol/upload-options.js';
import { defaultPollSchedule, pollDelay, resolvePollSchedule, type PollSchedule } from '../src/tasks/polling.js';
import { Session } from '../src/client/session.js';
import { API_KEY, fakeNova } from './helpers/fake-nova.js';

function refusal(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

const DEFAULTS = { publicly_visible: 'n', allow_commercial_use: 'd', allow_modifications: 'd' };

// [option, bad value, a fragment of the allowed text, other options the value needs to be checked alone]
const BAD: [keyof UploadOptions, unknown, string, UploadOptions?][] = [
  ['publiclyVisible', 'yes', 'true or false'],
  ['publiclyVisible', 1, 'true or false'],
  ['allowCommercialUse', 'y', '"yes", "no", "default"'],
  ['allowCommercialUse', 'maybe', '"yes", "no", "default"'],
  ['allowModifications', 'sa', '"share-alike"'],
  ['allowModifications', true, '"yes"'],
  ['album', '', 'album'],
  ['album', '   ', 'album'],
  ['album', 42, 'album'],
  ['scaleUnits', 'degw', '"degwidth", "arcminwidth", "arcsecperpix", "focalmm"'],
  ['scaleUnits', 'DEGWIDTH', '"degwidth"'],
  ['scaleLower', 0, 'greater than 0'],
  ['scaleLower', -1, 'greater than 0'],
  ['scaleLower', '1', 'greater than 0'],
  ['scaleLower', Number.NaN, 'greater than 0'],
  ['scaleUpper', 0, 'greater than 0'],
  ['scaleUpper', Number.POSITIVE_INFINITY, 'greater than 0'],
  ['scaleEstimate', 0, 'greater than 0', { scaleError: 10 }],
  ['scaleError', 0, 'percentage', { scaleEstimate: 1 }],
  ['scaleError', 100, 'percentage', { scaleEstimate: 1 }],
  ['centerRa', 360, '360', { centerDec: 1, radius: 1 }],
  ['centerRa', -0.5, '360', { centerDec: 1, radius: 1 }],
  ['centerRa', '10', '360', { centerDec: 1, radius: 1 }],
  ['centerDec', 90.5, '-90 to 90', { centerRa: 1, radius: 1 }],
  ['centerDec', -91, '-90 to 90', { centerRa: 1, radius: 1 }],
  ['radius', 0, 'greater than 0, at most 180', { centerRa: 1, centerDec: 1 }],
  ['radius', 180.5, 'at most 180', { centerRa: 1, centerDec: 1 }],
  ['downsampleFactor', 0, 'integer from 1 to 64'],
  ['downsampleFactor', 2.5, 'integer from 1 to 64'],
  ['downsampleFactor', 65, 'integer from 1 to 64'],
  ['tweakOrder', -1, 'integer from 0 to 9'],
  ['tweakOrder', 10, 'integer from 0 to 9'],
  ['tweakOrder', 1.5, 'integer from 0 to 9'],
  ['useSextractor', 'false', 'true or false'],
  ['crpixCenter', 0, 'true or false'],
  ['parity', 2, '"positive", "negative", "both"'],
  ['parity', 'pos', '"positive", "negative", "both"'],
  ['invert', 'true', 'true or false'],
  ['imageWidth', 0, 'integer from 1'],
  ['imageWidth', 640.5, 'integer from 1'],
  ['imageHeight', -480, 'integer from 1'],
  ['positionalError', 0, 'greater than 0'],
  ['positionalError', -0.5, 'greater than 0'],
];

describe('encodeUploadOptions: each option refuses a bad value and names it', () => {
  test.each(BAD)('%s = %j', (option, value, allowedFragment, others) => {
    const error = refusal(() => encodeUploadOptions({ ...others, [option]: value } as UploadOptions));
    expect(error.code).toBe('validation');
    expect(error.option).toBe(option);
    expect(error.value).toBe(value);
    expect(error.allowed).toContain(allowedFragment);
    expect(error.message).toContain(option);
    expect(error.message).toContain(error.allowed);
    expect(error.message).toContain(typeof value === 'string' ? JSON.stringify(value) : String(value));
  });

  test('every option has at least one refusal case above', () => {
    expect(new Set(BAD.map(([o]) => o))).toEqual(new Set(UPLOAD_OPTION_NAMES));
  });
});

describe('encodeUploadOptions: names and combinations', () => {
  test.each(['scaleUnit', 'scale_units', 'publicly_visible', 'centreRa', 'signal2'])('the unknown option %j is refused, listing the known ones', (name) => {
    const error = refusal(() => encodeUploadOptions({ [name]: 'x' } as UploadOptions));
    expect(error.option).toBe(name);
    expect(error.message).toContain(name);
    expect(error.allowed).toContain('scaleUnits');
    expect(error.allowed).toContain('publiclyVisible');
  });

  test('options must be an object', () => {
    expect(refusal(() => encodeUploadOptions([] as unknown as UploadOptions)).option).toBe('options');
  });

  test('undefined values are treated as absent', () => {
    expect(encodeUploadOptions({ scaleLower: undefined, album: undefined })).toEqual(DEFAULTS);
  });

  test('scale bounds and a scale estimate are exclusive', () => {
    const error = refusal(() => encodeUploadOptions({ scaleLower: 1, scaleEstimate: 2, scaleError: 10 }));
    expect(error.allowed).toContain('not both');
    refusal(() => encodeUploadOptions({ scaleUpper: 3, scaleError: 10, scaleEstimate: 2 }));
  });

  test.each([
    [2, 2],
    [3, 2],
  ])('scaleLower %d >= scaleUpper %d is refused', (lower, upper) => {
    const error = refusal(() => encodeUploadOptions({ scaleLower: lower, scaleUpper: upper }));
    expect(error.option).toBe('scaleLower');
    expect(error.value).toBe(lower);
    expect(error.allowed).toContain(String(upper));
  });

  test('scaleEstimate needs scaleError and vice versa', () => {
    expect(refusal(() => encodeUploadOptions({ scaleEstimate: 2 })).option).toBe('scaleError');
    expect(refusal(() => encodeUploadOptions({ scaleError: 10 })).option).toBe('scaleEstimate');
  });

  test.each([
    [{ centerRa: 10 }, 'centerDec'],
    [{ centerDec: 10 }, 'centerRa'],
    [{ radius: 1 }, 'centerRa'],
    [{ centerRa: 10, centerDec: 20 }, 'radius'],
    [{ centerRa: 10, radius: 1 }, 'centerDec'],
    [{ centerDec: 20, radius: 1 }, 'centerRa'],
  ] as [UploadOptions, string][])('the centre goes as a triple: %j names %s as missing', (options, missing) => {
    const error = refusal(() => encodeUploadOptions(options));
    expect(error.option).toBe(missing);
    expect(error.allowed).toContain('centerRa, centerDec and radius go together');
  });

  test('scale bounds: scale_type ul with both bounds; one bound alone is refused, naming the other', () => {
    expect(encodeUploadOptions({ scaleUnits: 'arcminwidth', scaleLower: 10, scaleUpper: 20 })).toEqual({
      ...DEFAULTS,
      scale_units: 'arcminwidth',
      scale_type: 'ul',
      scale_lower: 10,
      scale_upper: 20,
    });
    expect(refusal(() => encodeUploadOptions({ scaleUpper: 20 }))).toMatchObject({ option: 'scaleLower', value: undefined });
    expect(refusal(() => encodeUploadOptions({ scaleLower: 1 }))).toMatchObject({ option: 'scaleUpper', allowed: expect.stringContaining('go together') });
  });

  test('scale estimate: scale_type ev with est and err', () => {
    expect(encodeUploadOptions({ scaleUnits: 'arcsecperpix', scaleEstimate: 1.5, scaleError: 10 })).toEqual({
      ...DEFAULTS,
      scale_units: 'arcsecperpix',
      scale_type: 'ev',
      scale_est: 1.5,
      scale_err: 10,
    });
  });

  test('a centre is sent as center_ra, center_dec and radius', () => {
    expect(encodeUploadOptions({ centerRa: 83.82, centerDec: -5.39, radius: 2 })).toMatchObject({ center_ra: 83.82, center_dec: -5.39, radius: 2 });
  });

  test.each([
    [{ centerRa: 0, centerDec: 45, radius: 1 }, 'center_ra'],
    [{ centerRa: 180, centerDec: 0, radius: 1 }, 'center_dec'],
    [{ centerRa: 0, centerDec: 0, radius: 1 }, 'center_ra'],
    [{ centerRa: 0, centerDec: -0, radius: 1 }, 'center_dec'],
  ] as [UploadOptions, string][])('a zero coordinate is honoured as a tiny non-zero value (nova drops falsy values): %j', (options, key) => {
    const wire = encodeUploadOptions(options);
    const value = wire[key] as number;
    expect(typeof value).toBe('number');
    expect(value).not.toBe(0);
    expect(Boolean(value)).toBe(true);
    expect(Math.abs(value)).toBeLessThan(1e-6);
    // Non-zero coordinates are untouched.
    if (options.centerDec !== 0 && !Object.is(options.centerDec, -0)) expect(wire.center_dec).toBe(options.centerDec);
    expect(wire.radius).toBe(options.radius);
  });

  test('the boundaries themselves are accepted', () => {
    expect(() => encodeUploadOptions({ centerRa: 359.999, centerDec: 90, radius: 180 })).not.toThrow();
    expect(() => encodeUploadOptions({ centerRa: 0, centerDec: -90, radius: 0.001 })).not.toThrow();
    expect(() => encodeUploadOptions({ downsampleFactor: 1, tweakOrder: 0, imageWidth: 1, imageHeight: 1_000_000 })).not.toThrow();
    expect(() => encodeUploadOptions({ downsampleFactor: 64, tweakOrder: 9 })).not.toThrow();
    expect(() => encodeUploadOptions({ scaleEstimate: 1, scaleError: 99.9 })).not.toThrow();
  });

  test.each([
    ['positive', 0],
    ['negative', 1],
    ['both', 2],
  ] as const)('parity %s → %d', (parity, wire) => {
    expect(encodeUploadOptions({ parity }).parity).toBe(wire);
  });

  test.each([
    ['yes', 'y'],
    ['no', 'n'],
    ['default', 'd'],
  ] as const)('allowCommercialUse %s → %s', (licence, wire) => {
    expect(encodeUploadOptions({ allowCommercialUse: licence }).allow_commercial_use).toBe(wire);
  });

  test.each([
    ['yes', 'y'],
    ['share-alike', 'sa'],
    ['no', 'n'],
    ['default', 'd'],
  ] as const)('allowModifications %s → %s', (licence, wire) => {
    expect(encodeUploadOptions({ allowModifications: licence }).allow_modifications).toBe(wire);
  });

  test('defaults: private, the account licence, nothing else sent', () => {
    expect(encodeUploadOptions(undefined)).toEqual(DEFAULTS);
    expect(encodeUploadOptions({})).toEqual(DEFAULTS);
    expect(encodeUploadOptions({ publiclyVisible: false }).publicly_visible).toBe('n');
    expect(encodeUploadOptions({ publiclyVisible: true }).publicly_visible).toBe('y');
  });

  test('every option maps to its nova key, with JSON booleans and numbers', () => {
    expect(
      encodeUploadOptions({
        album: 'Orion',
        downsampleFactor: 4,
        tweakOrder: 3,
        useSextractor: true,
        crpixCenter: false,
        invert: true,
        imageWidth: 640,
        imageHeight: 480,
        positionalError: 1.5,
      }),
    ).toEqual({
      ...DEFAULTS,
      album: 'Orion',
      downsample_factor: 4,
      tweak_order: 3,
      use_sextractor: true,
      crpix_center: false,
      invert: true,
      image_width: 640,
      image_height: 480,
      positional_error: 1.5,
    });
  });
});

describe('describeInput', () => {
  const memory = (): MemoryStore => new Map();

  test.each([
    ['https://example.org/img/m42.jpg', { kind: 'url', url: 'https://example.org/img/m42.jpg' }],
    ['HTTP://EXAMPLE.ORG/A.JPG', { kind: 'url', url: 'HTTP://EXAMPLE.ORG/A.JPG' }],
    ['/data/images/m42.fits', { kind: 'file', path: '/data/images/m42.fits', filename: 'm42.fits' }],
    ['m42.fits', { kind: 'file', path: 'm42.fits', filename: 'm42.fits' }],
    ['C:\\images\\m31.jpg', { kind: 'file', path: 'C:\\images\\m31.jpg', filename: 'm31.jpg' }],
    ['./http-archive/m42.png', { kind: 'file', path: './http-archive/m42.png', filename: 'm42.png' }],
  ])('the string %j is %j', (input, expected) => {
    expect(describeInput(input, memory())).toEqual(expected);
  });

  test('{ file } and { url } objects', () => {
    expect(describeInput({ file: '/tmp/x.fits' }, memory())).toEqual({ kind: 'file', path: '/tmp/x.fits', filename: 'x.fits' });
    expect(describeInput({ url: 'http://a.b/c.png' }, memory())).toEqual({ kind: 'url', url: 'http://a.b/c.png' });
  });

  test.each(['not a url', 'ftp://example.org/a.fits', 'file:///etc/passwd', 'javascript:alert(1)'])('the URL %j is refused', (url) => {
    const error = refusal(() => describeInput({ url }, memory()));
    expect(error.option).toBe('url');
    expect(error.value).toBe(url);
    expect(error.allowed).toContain('http');
  });

  test('a URL over 200 characters is refused (nova stores 200); 200 exactly is fine', () => {
    const base = 'https://example.org/';
    const at200 = base + 'a'.repeat(200 - base.length);
    expect(at200).toHaveLength(200);
    expect(describeInput(at200, memory())).toEqual({ kind: 'url', url: at200 });
    const error = refusal(() => describeInput(`${at200}b`, memory()));
    expect(error.option).toBe('url');
    expect(error.allowed).toContain('200');
  });

  test('an empty file path is refused', () => {
    expect(refusal(() => describeInput({ file: '' }, memory())).option).toBe('file');
  });

  test('bytes go to the memory store; the descriptor only holds a reference', () => {
    const store = memory();
    const bytes = new Uint8Array([1, 2, 3]);
    const d = describeInput({ bytes, filename: 'f.png' }, store);
    expect(d).toMatchObject({ kind: 'memory', filename: 'f.png', size: 3 });
    if (d.kind !== 'memory') throw new Error('memory expected');
    expect(store.get(d.ref)).toBe(bytes);
    expect(JSON.stringify(d)).not.toContain('[1,2,3]');
    expect(refusal(() => describeInput({ bytes: new Uint8Array() }, store)).option).toBe('bytes');
  });

  test('a blob takes its name from the File when no filename is given', () => {
    const store = memory();
    const file = new File([new Uint8Array([1, 2])], 'frame.fits');
    expect(describeInput({ blob: file }, store)).toMatchObject({ kind: 'memory', filename: 'frame.fits', size: 2 });
    expect(refusal(() => describeInput({ blob: new Blob([]) }, store)).option).toBe('blob');
  });

  test('anything else is refused', () => {
    expect(refusal(() => describeInput(42 as unknown as SolveInput, memory())).option).toBe('input');
    expect(refusal(() => describeInput(null as unknown as SolveInput, memory())).option).toBe('input');
    expect(refusal(() => describeInput({ path: 'x' } as unknown as SolveInput, memory())).option).toBe('input');
  });

  test('a source list is copied', () => {
    const x = [1, 2.5];
    const d = describeInput({ sourceList: { x, y: [3, 4] } }, memory());
    expect(d).toEqual({ kind: 'sourceList', x: [1, 2.5], y: [3, 4] });
    x.push(9);
    expect(d.kind === 'sourceList' && d.x).toEqual([1, 2.5]);
  });

  test.each([
    [{ x: [], y: [] }, 'sourceList.x'],
    [{ x: [1, 2], y: [1] }, 'sourceList.y'],
    [{ x: [1, 0], y: [1, 1] }, 'sourceList.x[1]'],
    [{ x: [1, 2], y: [-3, 1] }, 'sourceList.y[0]'],
    [{ x: [1, Number.NaN], y: [1, 1] }, 'sourceList.x[1]'],
    [{ x: [1, 2], y: [1, Number.POSITIVE_INFINITY] }, 'sourceList.y[1]'],
    [{ x: ['1'], y: [1] }, 'sourceList.x[0]'],
    [{ x: [1] }, 'sourceList'],
    [null, 'sourceList'],
  ])('the source list %j is refused at %s', (sourceList, option) => {
    const error = refusal(() => describeInput({ sourceList } as unknown as SolveInput, memory()));
    expect(error.option).toBe(option);
    expect(error.message).toContain(option);
  });
});

describe('Client.solve validates before any request', () => {
  const client = () => {
    const transport = fakeNova();
    return { transport, client: new Client({ apiKey: API_KEY, apiUrl: 'http://nova.test/api/', transport, polling: { minIntervalMs: 0 } }) };
  };

  test.each([
    ['a typo', { scaleUnit: 'degwidth' }],
    ['a bad value', { tweakOrder: 12 }],
    ['a string boolean', { useSextractor: 'false' }],
    ['half a centre', { centerRa: 0 }],
    ['bounds and an estimate', { scaleLower: 1, scaleEstimate: 2, scaleError: 5 }],
  ])('%s makes zero requests', async (_name, options) => {
    const { transport, client: c } = client();
    await expect(c.solve('http://example.org/a.jpg', options as never)).rejects.toBeInstanceOf(ValidationError);
    await new Promise((r) => setTimeout(r, 10));
    expect(transport.requests).toHaveLength(0);
  });

  test.each([
    ['a bad URL', { url: 'ftp://example.org/a.jpg' }],
    ['a long URL', `https://example.org/${'a'.repeat(200)}`],
    ['an empty source list', { sourceList: { x: [], y: [] } }],
  ])('%s makes zero requests', async (_name, input) => {
    const { transport, client: c } = client();
    await expect(c.solve(input as SolveInput)).rejects.toBeInstanceOf(ValidationError);
    await new Promise((r) => setTimeout(r, 10));
    expect(transport.requests).toHaveLength(0);
  });

  test('signal and onStart are not taken for upload options', async () => {
    const { transport, client: c } = client();
    let started = false;
    const result = await c.solve('http://example.org/a.jpg', { signal: new AbortController().signal, onStart: () => (started = true), scaleUnits: 'degwidth' });
    expect(started).toBe(true);
    expect(result.jobId).toBe(202);
    const sent = transport.requests.find((r) => r.path === '/api/url_upload')?.json;
    expect(sent).toMatchObject({ scale_units: 'degwidth', publicly_visible: 'n' });
    expect(sent).not.toHaveProperty('signal');
    expect(sent).not.toHaveProperty('onStart');
  });
});

describe('the poll schedule', () => {
  const NOVA = 'https://nova.astrometry.net/api/';
  const LOCAL = 'http://127.0.0.1:8080/api/';

  test('the floor is 5 s against nova.astrometry.net and 1 s elsewhere; waits are capped at 30 s', () => {
    expect(defaultPollSchedule(NOVA)).toEqual({ minIntervalMs: 5000, maxIntervalMs: 30_000, fraction: 0.1, jitter: 0.1 });
    expect(defaultPollSchedule(LOCAL)).toEqual({ minIntervalMs: 1000, maxIntervalMs: 30_000, fraction: 0.1, jitter: 0.1 });
  });

  test('each wait is a tenth of the time already waited, clamped to the floor and the cap', () => {
    const s: PollSchedule = { minIntervalMs: 5000, maxIntervalMs: 30_000, fraction: 0.1, jitter: 0 };
    expect([0, 10_000, 50_000, 120_000, 300_000, 600_000].map((elapsed) => pollDelay(s, elapsed))).toEqual([
      5000, 5000, 5000, 12_000, 30_000, 30_000,
    ]);
  });

  test('jitter only shortens a wait, and never below the floor', () => {
    const s: PollSchedule = { minIntervalMs: 1000, maxIntervalMs: 30_000, fraction: 0.1, jitter: 0.1 };
    expect(pollDelay(s, 100_000, 0)).toBe(10_000);
    expect(pollDelay(s, 100_000, 1)).toBe(9000);
    expect(pollDelay(s, 0, 1)).toBe(1000);
    const nova = defaultPollSchedule(NOVA);
    for (const elapsed of [0, 5000, 60_000, 1e6]) for (const r of [0, 0.3, 0.999]) expect(pollDelay(nova, elapsed, r)).toBeGreaterThanOrEqual(5000);
  });

  test.each([
    [{ firstDelayMs: 1000 }, 'polling.firstDelayMs'],
    [{ minIntervalMs: Number.NaN }, 'polling.minIntervalMs'],
    [{ maxIntervalMs: Number.POSITIVE_INFINITY }, 'polling.maxIntervalMs'],
    [{ fraction: 0 }, 'polling.fraction'],
    [{ fraction: 2 }, 'polling.fraction'],
    [{ jitter: 1 }, 'polling.jitter'],
    [{ jitter: -0.1 }, 'polling.jitter'],
    [{ minIntervalMs: 2000, maxIntervalMs: 1000 }, 'polling.maxIntervalMs'],
  ] as [Partial<PollSchedule>, string][])('the override %j is refused at %s', (overrides, option) => {
    expect(refusal(() => resolvePollSchedule(LOCAL, overrides)).option).toBe(option);
    expect(() => new Session({ apiKey: API_KEY, apiUrl: LOCAL, transport: fakeNova(), polling: overrides })).toThrow(ValidationError);
  });

  test('minIntervalMs alone is a valid override: the rest adapts (a floor above the cap lifts the cap)', () => {
    expect(resolvePollSchedule(NOVA, { minIntervalMs: 10_000 })).toEqual({ ...defaultPollSchedule(NOVA), minIntervalMs: 10_000 });
    expect(resolvePollSchedule(LOCAL, { minIntervalMs: 60_000 })).toMatchObject({ minIntervalMs: 60_000, maxIntervalMs: 60_000 });
  });

  test('against nova.astrometry.net an override cannot poll faster than every 5 s', () => {
    expect(refusal(() => resolvePollSchedule(NOVA, { minIntervalMs: 1000 })).option).toBe('polling.minIntervalMs');
  });
});

describe('session options', () => {
  test.each([0, -5, Number.NaN])('timeoutMs %d is refused; null means no deadline', (timeoutMs) => {
    const e = refusal(() => new Session({ apiKey: API_KEY, apiUrl: 'http://x.test/api/', transport: fakeNova(), timeoutMs }));
    expect(e.option).toBe('timeoutMs');
    expect(new Session({ apiKey: API_KEY, apiUrl: 'http://x.test/api/', transport: fakeNova(), timeoutMs: null }).timeoutMs).toBeNull();
  });

  test('an empty API key is refused without echoing anything', () => {
    const e = refusal(() => new Session({ apiKey: '   ', apiUrl: 'http://x.test/api/', transport: fakeNova() }));
    expect(e.option).toBe('apiKey');
  });

  test.each(['ftp://nova.test/api/', 'nova.astrometry.net/api'])('the API URL %j is refused', (apiUrl) => {
    expect(refusal(() => new Session({ apiKey: API_KEY, apiUrl, transport: fakeNova() })).option).toBe('apiUrl');
  });

  test('the API URL gets its trailing slash', () => {
    expect(new Session({ apiKey: API_KEY, apiUrl: 'http://x.test/api', transport: fakeNova() }).apiUrl).toBe('http://x.test/api/');
  });

  test('the session never shows its key', () => {
    const session = new Session({ apiKey: API_KEY, apiUrl: 'http://x.test/api/', transport: fakeNova() });
    expect(JSON.stringify(session)).not.toContain(API_KEY);
    expect(JSON.stringify(new Client({ apiKey: API_KEY, apiUrl: 'http://x.test/api/', transport: fakeNova() }))).not.toContain(API_KEY);
  });
});
