/**
 * Result downloads: the human/Referer gate, real FITS bytes for a solved job, and nova's two
 * ways of failing for missing files (HTML 500, or HTTP 200 text/html error strings).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/index.js';
import { headerBytes } from 'astrometry-net-client/fits';
import { encodePng } from '../src/render.js';

const KEY = 'zxcvbnmasdfghjkl';
const REF = { Referer: 'https://nova.astrometry.net/api/login' };
let s: RunningServer;
let session = '';
let cookie = '';
const jobs: Record<'png' | 'fits' | 'failed', number> = { png: 0, fits: 0, failed: 0 };
const images: Record<'png' | 'fits', number> = { png: 0, fits: 0 };
const pngBytes = encodePng({ width: 60, height: 40, channels: 1, data: new Uint8Array(60 * 40).map((_, i) => i % 256) });

function fitsImage(w: number, h: number): Buffer {
  const header = headerBytes([
    { keyword: 'SIMPLE', value: true },
    { keyword: 'BITPIX', value: 16 },
    { keyword: 'NAXIS', value: 2 },
    { keyword: 'NAXIS1', value: w },
    { keyword: 'NAXIS2', value: h },
    { keyword: 'OBJECT', value: 'test field' },
  ]);
  const data = Buffer.alloc(Math.ceil((w * h * 2) / 2880) * 2880);
  for (let i = 0; i < w * h; i++) data.writeInt16BE((i * 13) % 3000, i * 2);
  return Buffer.concat([header, data]);
}

async function upload(name: string, bytes: Uint8Array): Promise<number> {
  const form = new FormData();
  form.set('request-json', JSON.stringify({ session }));
  form.set('file', new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  return ((await (await fetch(s.url + 'upload', { method: 'POST', body: form })).json()) as { subid: number }).subid;
}

async function finished(subid: number): Promise<{ job: number; image: number }> {
  for (let i = 0; i < 300; i++) {
    const st = (await (await fetch(s.url + `submissions/${subid}`)).json()) as { jobs: (number | null)[]; images: number[] };
    const job = st.jobs[0];
    if (typeof job === 'number') {
      const status = ((await (await fetch(s.url + `jobs/${job}`)).json()) as { status: string }).status;
      if (status === 'success' || status === 'failure') return { job, image: st.images[0] as number };
    }
    await new Promise((r) => setTimeout(r, 15));
  }
  throw new Error('job did not finish');
}

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(s.origin + path, { headers, redirect: 'manual' });
  return { status: res.status, type: res.headers.get('content-type'), headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

function cards(buf: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < 2880; i += 80) {
    const card = buf.subarray(i, i + 80).toString('latin1');
    if (card.slice(8, 10) === '= ') out.set(card.slice(0, 8).trim(), card.slice(10).split(' /')[0]?.trim() ?? '');
  }
  return out;
}

beforeAll(async () => {
  s = await startServer({ port: 0, apiKeys: [KEY], solver: 'simulated', simulated: { ingestMs: 5, queueMs: 5, solveMs: 20 } });
  const res = await fetch(s.url + 'login', { method: 'POST', body: new URLSearchParams({ 'request-json': JSON.stringify({ apikey: KEY }) }) });
  session = ((await res.json()) as { session: string }).session;
  cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const [p, f, x] = await Promise.all([upload('sky.png', pngBytes), upload('sky.fits', fitsImage(64, 48)), upload('failed.png', pngBytes)]);
  const [pr, fr, xr] = await Promise.all([finished(p), finished(f), finished(x)]);
  jobs.png = pr.job;
  jobs.fits = fr.job;
  jobs.failed = xr.job;
  images.png = pr.image;
  images.fits = fr.image;
});
afterAll(async () => {
  await s.close();
});

describe('human/Referer gate', () => {
  it('redirects gated downloads without Referer or cookie to /ask_human, before any id lookup', async () => {
    const r = await get(`/corr_file/${jobs.png}`);
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe(`/ask_human?next=/corr_file/${jobs.png}`);
    const q = await get(`/image/${images.png}?filename=a b.png`);
    expect(q.headers.get('location')).toBe(`/ask_human?next=/image/${images.png}%3Ffilename%3Da%2520b.png`);
    expect((await get('/new_fits_file/99999999')).status).toBe(302);
    const page = await get('/ask_human?next=/corr_file/1');
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/^text\/html/);
  });

  it('lets any Referer, or a live login cookie, through', async () => {
    expect((await get(`/corr_file/${jobs.png}`, REF)).status).toBe(200);
    expect((await get(`/corr_file/${jobs.png}`, { Referer: 'x' })).status).toBe(200);
    expect((await get(`/corr_file/${jobs.png}`, { Cookie: cookie })).status).toBe(200);
    expect((await get(`/corr_file/${jobs.png}`, { Cookie: 'NovaAstrometrySession=forged' })).status).toBe(302);
  });

  it('leaves wcs/rdls/axy/image_rd/kml/joblog/wwt_image ungated', async () => {
    for (const p of [`/wcs_file/${jobs.png}`, `/rdls_file/${jobs.png}`, `/axy_file/${jobs.png}`, `/image_rd_file/${jobs.png}`, `/kml_file/${jobs.png}`, `/joblog/${jobs.png}`, `/wwt_image/${images.png}`]) {
      expect((await get(p)).status, p).toBe(200);
    }
  });

  it('rejects POSTs to download views (CSRF) with 403 HTML', async () => {
    const r = await fetch(s.origin + `/wcs_file/${jobs.png}`, { method: 'POST' });
    expect(r.status).toBe(403);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
  });
});

describe('result files', () => {
  it('serves a valid WCS FITS file consistent with the calibration', async () => {
    const r = await get(`/wcs_file/${jobs.png}/`);
    expect(r.type).toBe('application/fits');
    expect(r.headers.get('content-disposition')).toBe('attachment; filename=wcs.fits');
    expect(r.body.length % 2880).toBe(0);
    const c = cards(r.body);
    expect(c.get('SIMPLE')).toBe('T');
    expect(c.get('CTYPE1')).toBe("'RA---TAN'");
    expect(c.get('CTYPE2')).toBe("'DEC--TAN'");
    expect(Number(c.get('IMAGEW'))).toBe(60);
    expect(Number(c.get('IMAGEH'))).toBe(40);
    const cal = (await (await fetch(s.url + `jobs/${jobs.png}/calibration`)).json()) as { ra: number; dec: number; pixscale: number; parity: number };
    expect(Number(c.get('CRVAL1'))).toBeCloseTo(cal.ra, 8);
    expect(Number(c.get('CRVAL2'))).toBeCloseTo(cal.dec, 8);
    const cd = ['CD1_1', 'CD1_2', 'CD2_1', 'CD2_2'].map((k) => Number(c.get(k)));
    const det = (cd[0] ?? 0) * (cd[3] ?? 0) - (cd[1] ?? 0) * (cd[2] ?? 0);
    expect(Math.sqrt(Math.abs(det)) * 3600).toBeCloseTo(cal.pixscale, 6);
    expect(Math.sign(det)).toBe(cal.parity);
  });

  it('serves rdls/axy/corr as FITS tables', async () => {
    for (const [p, name] of [['rdls_file', 'rdls.fits'], ['axy_file', 'axy.fits'], ['corr_file', 'corr.fits']] as const) {
      const r = await get(`/${p}/${jobs.png}`, REF);
      expect(r.type).toBe('application/fits');
      expect(r.headers.get('content-disposition')).toBe(`attachment; filename=${name}`);
      expect(r.body.length % 2880).toBe(0);
      expect(r.body.subarray(2880, 2900).toString('latin1')).toContain("XTENSION= 'BINTABLE'");
    }
  });

  it('answers missing files of a failed job as nova does', async () => {
    for (const p of ['wcs_file', 'rdls_file', 'corr_file']) {
      const r = await get(`/${p}/${jobs.failed}`, REF);
      expect(r.status, p).toBe(500);
      expect(r.type).toMatch(/^text\/html/);
    }
    // augment-xylist ran, so the axy file exists even for a failure.
    expect((await get(`/axy_file/${jobs.failed}`)).status).toBe(200);
    const rd = await get(`/image_rd_file/${jobs.failed}`);
    expect([rd.status, rd.type, rd.body.toString()]).toEqual([200, 'text/html; charset=utf-8', expect.stringContaining('wcs-xy2rd failed')]);
    expect((await get(`/annotated_display/${jobs.failed}`, REF)).status).toBe(500);
    for (const p of ['red_green_image_display', 'extraction_image_full', 'annotated_full']) {
      const r = await get(`/${p}/${jobs.png}`, REF);
      expect([r.status, r.type], p).toEqual([200, 'text/html; charset=utf-8']);
      expect(r.body.toString()).toMatch(/^plot failed/);
    }
    const nf = await get(`/new_fits_file/${jobs.png}`, REF);
    expect([nf.status, nf.type]).toEqual([200, 'text/html; charset=utf-8']);
    expect(nf.body.toString()).toMatch(/^image2pnm\.py failed/);
    expect((await get('/kml_file/1')).body.toString()).toMatch(/^KMZ requests are off for now\./);
    expect((await get('/joblog2/' + jobs.png)).status).toBe(500);
    expect((await get('/joblog/99999999')).status).toBe(404);
    expect((await get('/wcs_file/99999999')).status).toBe(404);
    expect((await get('/wcs_file/1-1')).status).toBe(500);
  });

  it('computes image_rd and new_fits files for a solved FITS upload', async () => {
    const rd = await get(`/image_rd_file/${jobs.fits}`);
    expect(rd.type).toBe('application/fits');
    expect(rd.headers.get('content-disposition')).toBe('attachment; filename=image-radec.fits');
    const nf = await get(`/new_fits_file/${jobs.fits}`, REF);
    expect(nf.type).toBe('application/fits');
    const c = cards(nf.body);
    expect(c.get('OBJECT')).toBe("'test field'");
    expect(c.get('CTYPE1')).toBe("'RA---TAN'");
    expect(Number(c.get('NAXIS1'))).toBe(64);
    const original = fitsImage(64, 48);
    expect(nf.body.subarray(nf.body.length - original.length + 2880).equals(original.subarray(2880))).toBe(true);
  });

  it('serves the joblog as text/plain and the 503 special case', async () => {
    const log = await get(`/joblog/${jobs.png}`);
    expect(log.type).toBe('text/plain');
    expect(log.body.toString()).toContain('solved');
    const dos = await get('/new_fits_file/6490673');
    expect([dos.status, dos.body.toString()]).toEqual([503, 'django']);
  });
});

describe('images', () => {
  it('serves the original bytes of browser images, with nova\'s headers', async () => {
    const r = await get(`/image/${images.png}?filename=sky.png`, REF);
    expect(r.type).toBe('image/png');
    expect(r.body.equals(Buffer.from(pngBytes))).toBe(true);
    expect(r.headers.get('content-disposition')).toBe('filename=sky.png');
    expect(r.headers.get('expires')).toMatch(/^\w{3} \w{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/);
    expect((await get(`/image/99999999`, REF)).status).toBe(404);
    const injected = await get(`/image/${images.png}?filename=${encodeURIComponent('a\r\nX-Injected: 1')}`, REF);
    expect(injected.headers.get('x-injected')).toBeNull();
    expect(injected.headers.get('content-disposition')).toBe('filename=aX-Injected: 1');
  });

  it('renders FITS images as PNG, thumbnails at most 256 px', async () => {
    const r = await get(`/thumbnail_of_image/${images.fits}`, REF);
    expect(r.type).toBe('image/png');
    expect(r.body.subarray(1, 4).toString()).toBe('PNG');
    expect(r.body.readUInt32BE(16)).toBeLessThanOrEqual(256);
    const full = await get(`/wwt_image/${images.fits}`);
    expect(full.body.readUInt32BE(16)).toBe(64);
    expect(full.body.readUInt32BE(20)).toBe(48);
  });
});

describe('gate and session expiry', () => {
  it('stops honouring the login cookie once the session expired', async () => {
    expect((await get(`/corr_file/${jobs.png}`, { Cookie: cookie })).status).toBe(200);
    await s.expireSessions('expired');
    expect((await get(`/corr_file/${jobs.png}`, { Cookie: cookie })).status).toBe(302);
    expect((await get(`/corr_file/${jobs.png}`, { Cookie: cookie, ...REF })).status).toBe(200);
  });
});
