/**
 * The non-API result URLs (docs/nova-protocol.md#result-files): files from a job's directory, the human/Referer
 * gate, and nova's two ways of failing when a file is missing (HTML 500, or a 200 text/html
 * error string), which clients must tell apart from real files by Content-Type.
 */
import { createReadStream, realpathSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { join, resolve, sep } from 'node:path';
import type { SolveFiles } from './solver-backend.js';
import type { Exchange, ServerContext } from './context.js';
import { isFits, readHdus, readXyColumns, replaceWcs, tableFile } from 'astrometry-net-client/fits';
import { FILES } from './ingest.js';
import { parseUrlId } from './endpoints.js';
import { encodePng, renderFits, renderPnm, renderSources, type Raster } from './render.js';
import { HTML_TYPE, notFound, send, sendHtml, serverError } from './respond.js';
import { parseCookies, SESSION_COOKIE } from './sessions.js';
import { pixelToRaDec, type TanWcs } from './solvers/tan.js';
import type { ImageRow, JobRow } from './store/server-store.js';

/** Python's `urllib.parse.quote(s, safe='/')`. */
export function pyQuote(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.\-~/]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * `@human_or_ref_required`: any Referer header, or a live session cookie marked human.
 * Otherwise `redirect_to_login(full_path, login_url='/ask_human')`. Returns false when redirected.
 */
export async function passGate(ctx: ServerContext, ex: Exchange): Promise<boolean> {
  if (ex.req.headers.referer !== undefined) return true;
  const cookie = parseCookies(ex.req.headers.cookie).get(SESSION_COOKIE);
  if (await ctx.sessions.isHuman(cookie)) return true;
  const full = ex.req.url ?? '/';
  send(ex.res, 302, HTML_TYPE, '', { Location: `/ask_human?next=${pyQuote(full)}` });
  return false;
}

async function jobOr404(ctx: ServerContext, rawId: string): Promise<JobRow> {
  const job = await ctx.store.job(parseUrlId(rawId));
  if (!job) throw notFound('Job');
  return job;
}

async function jobFile(ctx: ServerContext, job: JobRow, key: keyof SolveFiles): Promise<string | null> {
  const rel = job.files[key];
  if (!rel) return null;
  const p = join(ctx.store.jobDir(job.id), rel);
  try {
    return (await stat(p)).isFile() ? p : null;
  } catch {
    return null;
  }
}

async function streamFile(ex: Exchange, path: string, headers: Record<string, string>): Promise<void> {
  const size = (await stat(path)).size;
  ex.res.writeHead(200, { ...headers, 'Content-Length': size });
  if (ex.req.method === 'HEAD') {
    ex.res.end();
    return;
  }
  // pipeline closes the file when the client goes away mid-download.
  await pipeline(createReadStream(path), ex.res).catch(() => ex.res.destroy());
}

const FITS_FILES: Record<string, { key: keyof SolveFiles; filename: string }> = {
  wcs_file: { key: 'wcs', filename: 'wcs.fits' },
  rdls_file: { key: 'rdls', filename: 'rdls.fits' },
  axy_file: { key: 'axy', filename: 'axy.fits' },
  corr_file: { key: 'corr', filename: 'corr.fits' },
};

/** wcs/rdls/axy/corr: `open()` of a missing file raises, so a 500. corr is gated. */
export async function fitsFile(ctx: ServerContext, ex: Exchange, which: string, rawId: string): Promise<void> {
  const spec = FITS_FILES[which];
  if (!spec) throw notFound('route');
  if (which === 'corr_file' && !(await passGate(ctx, ex))) return;
  const job = await jobOr404(ctx, rawId);
  const p = await jobFile(ctx, job, spec.key);
  if (!p) throw serverError(`FileNotFoundError: ${spec.filename}`);
  await streamFile(ex, p, { 'Content-Type': 'application/fits', 'Content-Disposition': `attachment; filename=${spec.filename}` });
}

export async function joblog(ctx: ServerContext, ex: Exchange, rawId: string, which: 1 | 2): Promise<void> {
  const job = await jobOr404(ctx, rawId);
  const p = which === 1 ? await jobFile(ctx, job, 'joblog') : null;
  if (!p) throw serverError('FileNotFoundError: job log');
  const text = hideDataDir(await readFile(p, 'latin1'), ctx.store.dataDir);
  send(ex.res, 200, 'text/plain', Buffer.from(text, 'latin1'));
}

/**
 * The solver's log names files by absolute path; the public log must not tell how the server's
 * disk is laid out: paths under the data directory are shown relative to it, and any other
 * absolute path (index files, tools) by its last component.
 */
export function hideDataDir(text: string, dataDir: string): string {
  const roots = new Set([resolve(dataDir)]);
  try {
    roots.add(realpathSync(dataDir));
  } catch {
    // not there (any more): nothing else to hide
  }
  let out = text;
  for (const root of [...roots].sort((a, b) => b.length - a.length)) out = out.split(`${root}${sep}`).join('').split(root).join('.');
  return out.replace(/(^|[\s"'(=:])\/(?:[^\s"'()/]+\/)+([^\s"'()/]+)/gm, '$1$2');
}

export function kmlFile(_ctx: ServerContext, ex: Exchange): void {
  // Disabled on nova since 2020-08; answered before the job is even looked up.
  sendHtml(ex.res, 200, 'KMZ requests are off for now.  Post at https://groups.google.com/forum/#!forum/astrometry for help.');
}

/** Reads the TAN part of a WCS header. */
function readTan(buf: Buffer): TanWcs {
  const c = readHdus(buf, 1)[0]?.header;
  const n = (k: string, d?: number): number => {
    const v = c?.get(k);
    if (typeof v === 'number') return v;
    if (d !== undefined) return d;
    throw new Error(`WCS header lacks ${k}`);
  };
  return {
    crval1: n('CRVAL1'),
    crval2: n('CRVAL2'),
    crpix1: n('CRPIX1'),
    crpix2: n('CRPIX2'),
    cd11: n('CD1_1'),
    cd12: n('CD1_2', 0),
    cd21: n('CD2_1', 0),
    cd22: n('CD2_2'),
    imagew: n('IMAGEW', 0),
    imageh: n('IMAGEH', 0),
  };
}

/** nova runs `wcs-xy2rd` on the fly; we do the TAN part of it from wcs + axy. */
export async function imageRdFile(ctx: ServerContext, ex: Exchange, rawId: string): Promise<void> {
  const job = await jobOr404(ctx, rawId);
  const given = await jobFile(ctx, job, 'imageRd');
  const headers = { 'Content-Type': 'application/fits', 'Content-Disposition': 'attachment; filename=image-radec.fits' };
  if (given) {
    await streamFile(ex, given, headers);
    return;
  }
  const wcsPath = await jobFile(ctx, job, 'wcs');
  const axyPath = await jobFile(ctx, job, 'axy');
  try {
    if (!wcsPath || !axyPath) throw new Error(`failed to read ${!wcsPath ? 'WCS' : 'xylist'} file`);
    const tan = readTan(await readFile(wcsPath));
    const axy = await readFile(axyPath);
    const xy = readXyColumns(axy);
    if (!xy) throw new Error('xylist has no X,Y columns');
    const sky = xy.x.map((x, i) => pixelToRaDec(tan, x, xy.y[i] ?? 0));
    const out = tableFile([
      { name: 'RA', type: 'D', values: sky.map((s) => s.ra) },
      { name: 'DEC', type: 'D', values: sky.map((s) => s.dec) },
      { name: 'X', type: 'D', values: xy.x },
      { name: 'Y', type: 'D', values: xy.y },
    ]);
    send(ex.res, 200, 'application/fits', Buffer.from(out.buffer, out.byteOffset, out.byteLength), { 'Content-Disposition': headers['Content-Disposition'] });
  } catch (err) {
    sendHtml(ex.res, 200, `wcs-xy2rd failed: out , err ${(err as Error).message}`);
  }
}

export async function newFitsFile(ctx: ServerContext, ex: Exchange, rawId: string): Promise<void> {
  if (!(await passGate(ctx, ex))) return;
  const job = await jobOr404(ctx, rawId);
  const headers = { 'Content-Type': 'application/fits', 'Content-Disposition': 'attachment; filename=new-image.fits' };
  const given = await jobFile(ctx, job, 'newFits');
  if (given) {
    await streamFile(ex, given, headers);
    return;
  }
  const image = await imageOfJob(ctx, job);
  const wcsPath = await jobFile(ctx, job, 'wcs');
  if (image.format !== 'fits') {
    sendHtml(ex.res, 200, `image2pnm.py failed: out , err this server cannot convert ${image.format} images to FITS`);
    return;
  }
  if (!wcsPath) {
    sendHtml(ex.res, 200, 'plot failed: out , err new-wcs: failed to read WCS file');
    return;
  }
  const merged = replaceWcs(await readFile(join(ctx.store.imageDir(image.id), FILES.image)), await readFile(wcsPath));
  send(ex.res, 200, 'application/fits', Buffer.from(merged.buffer, merged.byteOffset, merged.byteLength), { 'Content-Disposition': headers['Content-Disposition'] });
}

async function imageOfJob(ctx: ServerContext, job: JobRow): Promise<ImageRow> {
  const ui = await ctx.store.userImage(job.userImageId);
  const image = ui && (await ctx.store.image(ui.imageId));
  if (!image) throw serverError('job without image');
  return image;
}

const PLOTS: Record<string, { key: keyof SolveFiles; type: string; needsCalibration: boolean }> = {
  annotated_display: { key: 'annotatedDisplay', type: 'image/jpeg', needsCalibration: true },
  annotated_full: { key: 'annotatedFull', type: 'image/jpeg', needsCalibration: true },
  red_green_image_display: { key: 'redGreenDisplay', type: 'image/png', needsCalibration: false },
  red_green_image_full: { key: 'redGreenFull', type: 'image/png', needsCalibration: false },
  extraction_image_display: { key: 'extractionDisplay', type: 'image/png', needsCalibration: false },
  extraction_image_full: { key: 'extractionFull', type: 'image/png', needsCalibration: false },
};

/** Plots (gated): annotated needs a calibration (else AttributeError, 500); failures are 200 "plot failed". */
export async function plot(ctx: ServerContext, ex: Exchange, which: string, rawId: string): Promise<void> {
  if (!(await passGate(ctx, ex))) return;
  const job = await jobOr404(ctx, rawId);
  if (which.startsWith('grid_')) {
    // The grid plot has no failure page in nova: without a calibration it raises.
    throw serverError('grid plots are not rendered by this server');
  }
  const spec = PLOTS[which];
  if (!spec) throw notFound('plot');
  if (spec.needsCalibration && !job.calibration) throw serverError("AttributeError: 'NoneType' object has no attribute 'get_radius'");
  const p = await jobFile(ctx, job, spec.key);
  if (!p) {
    sendHtml(ex.res, 200, spec.needsCalibration ? 'plot failed: <br><pre></pre><br><pre></pre>' : 'plot failed');
    return;
  }
  await streamFile(ex, p, { 'Content-Type': spec.type });
}

const NATIVE_TYPES: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif' };

async function imageBytes(ctx: ServerContext, image: ImageRow, maxSide: number): Promise<{ type: string; body: Buffer }> {
  const dir = ctx.store.imageDir(image.id);
  const native = NATIVE_TYPES[image.format];
  if (native) return { type: native, body: await readFile(join(dir, FILES.image)) };
  let raster: Raster;
  if (image.kind === 'xylist') {
    const table = await readFile(join(dir, FILES.xylist));
    const xy = readXyColumns(table);
    raster = renderSources(xy?.x ?? [], xy?.y ?? [], image.width, image.height, maxSide);
  } else {
    const buf = await readFile(join(dir, FILES.image));
    raster = isFits(buf) ? renderFits(buf, maxSide) : renderPnm(buf, maxSide);
  }
  return { type: 'image/png', body: encodePng(raster) };
}

/** asctime, as nova's `time.asctime` writes Expires/Last-Modified (not an HTTP-date). */
function asctime(d: Date): string {
  const s = d.toUTCString(); // "Tue, 25 Nov 2025 11:34:00 GMT"
  const m = /^(\w{3}), (\d{2}) (\w{3}) (\d{4}) (\d{2}:\d{2}:\d{2})/.exec(s);
  if (!m) return s;
  return `${m[1]} ${m[3]} ${String(Number(m[2])).padStart(2, ' ')} ${m[5]} ${m[4]}`;
}

/** `/image/<id>` (gated), `/wwt_image/<id>` (ungated) and `/thumbnail_of_image/<id>` (gated). */
export async function serveImage(ctx: ServerContext, ex: Exchange, which: 'image' | 'wwt_image' | 'thumbnail_of_image', rawId: string): Promise<void> {
  if (which !== 'wwt_image' && !(await passGate(ctx, ex))) return;
  const image = await ctx.store.image(parseUrlId(rawId));
  if (!image) throw notFound('Image');
  let out: { type: string; body: Buffer };
  try {
    out = await imageBytes(ctx, image, which === 'thumbnail_of_image' ? 256 : 4096);
  } catch {
    if (which === 'thumbnail_of_image') {
      sendHtml(ex.res, 200, 'missing image file');
      return;
    }
    throw serverError('image file missing or unreadable');
  }
  const headers: Record<string, string> = {
    Expires: asctime(new Date(Date.now() + 7 * 86400_000)),
    'Last-Modified': asctime(new Date(image.createdAt / 1000)),
  };
  const filename = ex.url.searchParams.getAll('filename').at(-1);
  // Header values must stay printable Latin-1: a CR/LF here would be header injection.
  if (filename !== undefined) headers['Content-Disposition'] = `filename=${filename.replace(/[^\x20-\x7e\xa0-\xff]/g, '')}`;
  send(ex.res, 200, out.type, out.body, headers);
}

/** The anti-DoS special case in nova's urls.py. */
export function dosError(_ctx: ServerContext, ex: Exchange): void {
  send(ex.res, 503, HTML_TYPE, 'django');
}

