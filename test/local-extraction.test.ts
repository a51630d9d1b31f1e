/**
 * `solve(input, { localExtraction: true })` against `astrometry-net serve` on the real solver:
 * every fixture solves from the locally extracted x/y list alone, and what goes over the wire
 * is counted byte by byte.
 */
import { statSync } from 'node:fs';
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Client, ValidationError } from '../src/index.js';
import type { Transport, TransportRequest } from '../src/transport/transport.js';
import { undiciTransport } from '../src/transport/undici.js';
import { buildCli, FIXTURES, runCli } from './helpers/cli-run.js';
import { Wcs } from '../src/wcs/index.js';
import { truthWcs, type FixtureTruth } from './helpers/hinted-fits.js';
import { expectNear, randomApiKey, startServe, truthOf, type Serve } from './helpers/serve-process.js';

const API_KEY = randomApiKey();
const POLLING = { minIntervalMs: 200, maxIntervalMs: 1000 };
let serve: Serve;
let fitsPath: string;

/** Bytes each request puts on the wire: the request line's URL, and the body as encoded. */
function requestBytes(req: TransportRequest): number {
  let n = req.method.length + new URL(req.url).pathname.length + new URL(req.url).search.length;
  for (const [k, v] of Object.entries(req.headers ?? {})) n += k.length + v.length + 4;
  const body = req.body;
  if (body?.kind === 'form') n += new URLSearchParams(body.fields).toString().length;
  if (body?.kind === 'multipart') {
    for (const [k, v] of Object.entries(body.fields)) n += k.length + new TextEncoder().encode(v).length;
    const s = body.file.source;
    n += s.kind === 'path' ? statSync(s.path).size : s.kind === 'bytes' ? s.bytes.byteLength : s.blob.size;
  }
  return n;
}

function counting(inner: Transport): Transport & { sent: () => number; uploads: TransportRequest[] } {
  let sent = 0;
  const uploads: TransportRequest[] = [];
  return {
    sent: () => sent,
    uploads,
    request(req) {
      sent += requestBytes(req);
      if (new URL(req.url).pathname.endsWith('/upload')) uploads.push(req);
      return inner.request(req);
    },
  };
}

beforeAll(async () => {
  await buildCli();
  const dir = await mkdtemp(path.join(tmpdir(), 'local-extraction-'));
  fitsPath = path.join(dir, 'small.fits');
  await writeFile(fitsPath, gunzipSync(await readFile(path.join(FIXTURES, 'small.fits.gz'))));
  serve = await startServe(API_KEY);
}, 60_000);

afterAll(() => {
  serve?.child.kill('SIGTERM');
});

const cases = [
  ['orion.png', 'orion'],
  ['south.png', 'south'],
  ['small.png', 'small'],
  ['small.fits', 'small'],
] as const;

describe.each(cases)('%s with localExtraction', (name, truthName) => {
  test('solves from the x/y list alone to the true centre; the image is not sent', async () => {
    const file = name === 'small.fits' ? fitsPath : path.join(FIXTURES, name);
    const transport = counting(undiciTransport());
    const client = new Client({ apiUrl: serve.apiUrl, apiKey: API_KEY, polling: POLLING, timeoutMs: 60_000, transport });
    const result = await client.solve({ file }, { localExtraction: true });
    const truth = await truthOf(truthName);
    // For an x/y list nova (and serve) centre their calibration on the list's own extent; the
    // result's describes the image: its centre, size and radius from the WCS over its pixels.
    const wcs = await result.wcs();
    const centre = wcs.pixelToSky(0.5 + truth.width / 2, 0.5 + truth.height / 2);
    expectNear(centre.ra, centre.dec, result.calibration.pixscale, truth);
    expectNear(result.calibration.ra, result.calibration.dec, result.calibration.pixscale, truth);
    expect(result.calibration.width_arcsec! / (truth.width * truth.scale_arcsec)).toBeCloseTo(1, 2);
    expect(result.calibration.height_arcsec! / (truth.height * truth.scale_arcsec)).toBeCloseTo(1, 2);
    // The angle to the far corner: a little under the flat half diagonal on a wide field (south: 17°).
    expect(result.calibration.radius / ((Math.hypot(truth.width, truth.height) / 2) * (truth.scale_arcsec / 3600))).toBeCloseTo(1, 1);
    expect([wcs.imageWidth, wcs.imageHeight]).toEqual([truth.width, truth.height]);
    expect((await result.job.info()).original_filename).toBe('json-xy');
    // The one upload carries the source list in its JSON, and no file of the image.
    expect(transport.uploads).toHaveLength(1);
    const upload = transport.uploads[0]!;
    const json = JSON.parse(upload.body?.kind === 'form' ? upload.body.fields['request-json']! : upload.body?.kind === 'multipart' ? upload.body.fields['request-json']! : '{}') as Record<string, unknown>;
    expect((json.x as number[]).length).toBeLessThanOrEqual(100);
    expect([json.image_width, json.image_height]).toEqual([truth.width, truth.height]);
    expect(json).not.toHaveProperty('localExtraction');
    // Against the image's pixels (8-bit PNG: 1 byte, float32 FITS: 4 bytes a pixel): at most 1 %.
    const pixelBytes = truth.width * truth.height * (name.endsWith('.fits') ? 4 : 1);
    const size = statSync(file).size;
    const off = Math.hypot((result.calibration.ra - truth.ra) * Math.cos((truth.dec * Math.PI) / 180), result.calibration.dec - truth.dec);
    console.log(`${name}: centre ${off.toFixed(5)}° from the truth; ${transport.sent()} bytes sent; ${(100 * transport.sent() / pixelBytes).toFixed(2)} % of the pixels, ${(100 * transport.sent() / size).toFixed(2)} % of the ${size}-byte file`);
    expect(transport.sent()).toBeLessThanOrEqual(0.01 * pixelBytes);
    // A file that is not already tiny: at most 1 % of the file itself.
    if (size > 256 * 1024) expect(transport.sent()).toBeLessThanOrEqual(0.01 * size);
  }, 90_000);
});

test('a URL cannot be extracted locally, nor bytes that are no image: a typed error before any request', async () => {
  const transport = counting(undiciTransport());
  const client = new Client({ apiUrl: serve.apiUrl, apiKey: API_KEY, transport });
  await expect(client.solve('https://example.org/m42.png', { localExtraction: true })).rejects.toBeInstanceOf(ValidationError);
  await expect(client.solve({ bytes: new Uint8Array([1, 2, 3]) }, { localExtraction: true })).rejects.toMatchObject({ code: 'invalid_image' });
  expect(transport.sent()).toBe(0);
});

test('CLI --local-extraction: a FITS input solves from its stars and still gets the WCS merged into <stem>.solved.fits', async () => {
  const out = path.join(path.dirname(fitsPath), 'out');
  const r = await runCli(['solve', fitsPath, '--api-url', serve.apiUrl, '--api-key', API_KEY, '--local-extraction', '--out', out, '--json'], { cwd: path.dirname(fitsPath) });
  expect(r.code, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout) as { inputs: { jobId: number; files: Record<string, string> }[] };
  const item = doc.inputs[0]!;
  const truth = await truthOf('small');
  const solved = new Uint8Array(await readFile(item.files.solvedFits!));
  const wcs = Wcs.fromFits(solved);
  expectNear(wcs.center.ra, wcs.center.dec, wcs.pixelScale, truth);
  // The reported calibration is the image's, not the extracted stars' extent.
  const reported = (doc.inputs[0] as unknown as { calibration: { ra: number; dec: number; pixscale: number } }).calibration;
  expectNear(reported.ra, reported.dec, reported.pixscale, truth);
  // The image's pixels are still there, after the merged header.
  expect(solved.length).toBeGreaterThanOrEqual(statSync(fitsPath).size);
  const client = new Client({ apiUrl: serve.apiUrl, apiKey: API_KEY });
  expect((await (await client.job(item.jobId)).job.info()).original_filename).toBe('json-xy');
}, 90_000);

test('CLI --local-extraction with a URL input: usage error (exit 2) before any request', async () => {
  const r = await runCli(['solve', 'https://example.org/m42.png', '--api-url', serve.apiUrl, '--api-key', API_KEY, '--local-extraction']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--local-extraction needs the image here');
});

/** The TAN WCS the fixture was drawn with (its truth json). */
async function fixtureWcs(name: string): Promise<Wcs> {
  return truthWcs(JSON.parse(await readFile(path.join(FIXTURES, `${name}.truth.json`), 'utf8')) as FixtureTruth);
}

/** Worst distance, over the corners and the centre, between where `solved` and the truth put the same sky. */
function worstPixelError(solved: Wcs, truth: Wcs): number {
  let worst = 0;
  const w = truth.imageWidth;
  const h = truth.imageHeight;
  for (const [x, y] of [[1, 1], [w, 1], [1, h], [w, h], [(w + 1) / 2, (h + 1) / 2]] as const) {
    const sky = truth.pixelToSky(x, y);
    const p = solved.skyToPixel(sky.ra, sky.dec)!;
    worst = Math.max(worst, Math.hypot(p.x - x, p.y - y));
  }
  return worst;
}

// small.fits holds small.png's rows in the same order (row 1 = the PNG's top row), so one truth serves both.
test.each([['orion.png', 'orion'], ['small.fits', 'small']] as const)('%s: the WCS solved from the local list puts the sky on the right pixels: within 0.5 px of the truth, and no worse than the image\'s own solve', async (name, truthName) => {
  const client = new Client({ apiUrl: serve.apiUrl, apiKey: API_KEY, polling: POLLING, timeoutMs: 60_000 });
  const file = name === 'small.fits' ? fitsPath : path.join(FIXTURES, name);
  const [fromImage, fromList] = await Promise.all([client.solve({ file }), client.solve({ file }, { localExtraction: true })]);
  const truth = await fixtureWcs(truthName);
  const list = worstPixelError(await fromList.wcs(), truth);
  const image = worstPixelError(await fromImage.wcs(), truth);
  console.log(`${name}: worst pixel error against the truth WCS: ${list.toFixed(3)} px from the local list, ${image.toFixed(3)} px from the uploaded image`);
  // The fixtures' bar for a good solve is 0.5 px; a list half a pixel off would miss both bounds.
  expect(list).toBeLessThan(0.5);
  expect(list).toBeLessThan(image + 0.1);
}, 90_000);
