/**
 * localExtraction at the client's edge, through the fake nova transport: the same requests as
 * any source-list solve, the options it adds, and what it refuses before any request.
 */
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { Client } from '../src/client/client.js';
import { API_KEY, fakeNova, requestLines } from './helpers/fake-nova.js';
const FIXTURES = path.join(import.meta.dirname, 'fixtures');

const FAST = { minIntervalMs: 0, maxIntervalMs: 0, jitter: 0 };

function setup() {
  const transport = fakeNova();
  const client = new Client({ apiKey: API_KEY, apiUrl: 'http://nova.test/api/', transport, polling: FAST, retry: { retries: 0 }, timeoutMs: null });
  const uploadJson = () => {
    const body = transport.requests.find((r) => r.path.endsWith('/upload'))?.body as { fields: Record<string, string> } | undefined;
    return JSON.parse(body?.fields['request-json'] ?? '{}') as Record<string, unknown>;
  };
  return { transport, client, uploadJson, lines: () => requestLines(transport.requests) };
}

describe('solve(input, { localExtraction })', () => {
  test('uploads the brightest sources to 0.01 px with the image size, and nothing else differs from a source list', async () => {
    const { client, uploadJson, lines } = setup();
    await client.solve(path.join(FIXTURES, 'small.png'), { localExtraction: { maxSources: 30 }, scaleUnits: 'arcsecperpix', scaleLower: 40, scaleUpper: 50 });
    const sent = uploadJson();
    expect(lines()[1]).toBe('POST /api/upload');
    expect((sent.x as number[]).length).toBe(30);
    expect((sent.y as number[]).length).toBe(30);
    for (const v of [...(sent.x as number[]), ...(sent.y as number[])]) expect(Math.round(v * 100) / 100).toBe(v);
    expect(sent).toMatchObject({ image_width: 640, image_height: 480, scale_units: 'arcsecperpix', scale_lower: 40, scale_upper: 50 });
    expect(Object.keys(sent).some((k) => /local/i.test(k))).toBe(false);
  });

  test("the caller's imageWidth/imageHeight win; localExtraction: false uploads the file itself", async () => {
    const a = setup();
    await a.client.solve({ file: path.join(FIXTURES, 'orion.png') }, { localExtraction: true, imageWidth: 1600, imageHeight: 1200 });
    expect(a.uploadJson()).toMatchObject({ image_width: 1600, image_height: 1200 });
    expect((a.uploadJson().x as number[]).length).toBe(100);
    const b = setup();
    await b.client.solve({ file: path.join(FIXTURES, 'orion.png') }, { localExtraction: false });
    const upload = b.transport.requests.find((r) => r.path.endsWith('/upload'));
    expect(upload?.body?.kind).toBe('multipart');
    expect(b.uploadJson()).not.toHaveProperty('x');
  });

  test('no pixels to read, no image, or no star: a typed error (validation, invalid_image) and no request', async () => {
    const { client, transport } = setup();
    await expect(client.solve('https://example.org/m42.jpg', { localExtraction: true })).rejects.toMatchObject({ code: 'validation', option: 'localExtraction' });
    await expect(client.solve({ sourceList: { x: [1], y: [2] } }, { localExtraction: true })).rejects.toMatchObject({ code: 'validation', option: 'localExtraction' });
    await expect(client.solve({ bytes: new Uint8Array([1, 2, 3]) }, { localExtraction: true })).rejects.toMatchObject({ code: 'invalid_image', message: expect.stringContaining('Not a FITS, PNG or JPEG image') });
    await expect(client.solve(path.join(FIXTURES, 'noise.png'), { localExtraction: true })).rejects.toMatchObject({ code: 'validation', allowed: expect.stringContaining('none was found') });
    await expect(client.solve('/no/such/file.png', { localExtraction: true })).rejects.toMatchObject({ code: 'validation', option: 'file' });
    await expect(client.solve(path.join(FIXTURES, 'small.png'), { localExtraction: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'validation', option: 'localExtraction' });
    expect(transport.requests).toEqual([]);
  });
});

describe('the sky separation shared by the quality report and imageCalibration', () => {
  test('separationArcsec: across RA 0, along a meridian, at the pole; the image radius is the farthest corner in degrees', async () => {
    const { separationArcsec } = await import('../src/wcs/separation.js');
    const { separationArcsec: fromQuality } = await import('../src/client/quality.js');
    const { imageCalibration } = await import('../src/client/local-extraction.js');
    const { Wcs } = await import('../src/wcs/index.js');
    const { fitsBytes } = await import('./helpers/fake-nova.js');
    expect(fromQuality).toBe(separationArcsec);
    expect(separationArcsec(359.5, 0, 0.5, 0)).toBeCloseTo(3600, 6);
    expect(separationArcsec(10, 20, 10, 21)).toBeCloseTo(3600, 6);
    expect(separationArcsec(0, 90, 180, 89)).toBeCloseTo(3600, 6);
    expect(separationArcsec(0, 0, 180, 0)).toBeCloseTo(180 * 3600, 3);
    // A 640 × 480 image at 45″/px on the equator: half diagonal 400 px = 5°, to the small-angle error.
    const cards = { CTYPE1: 'RA---TAN', CTYPE2: 'DEC--TAN', CRVAL1: 10, CRVAL2: 0, CRPIX1: 320.5, CRPIX2: 240.5, CD1_1: -0.0125, CD1_2: 0, CD2_1: 0, CD2_2: 0.0125, IMAGEW: 640, IMAGEH: 480 };
    const wcs = Wcs.fromFits(fitsBytes(cards));
    const server = { ra: 0, dec: 0, radius: 1, pixscale: 45, orientation: 0, parity: 1 as const };
    const c = imageCalibration(server, wcs, 640, 480);
    expect(c.radius).toBeGreaterThan(4.95);
    expect(c.radius).toBeLessThan(5.05);
    expect(c.ra).toBeCloseTo(10, 6);
  });
});
