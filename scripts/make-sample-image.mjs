#!/usr/bin/env node
/**
 * Render the project's sample star field (assets/sample.png) and its truth WCS
 * (assets/sample.truth.json) from the Tycho-2 index that Debian's
 * `astrometry-data-tycho2-10-19-littleendian` installs.
 *
 *   npm run build && node scripts/make-sample-image.mjs [--out-dir assets] [--index /path/to/index-tycho2-10...fits]
 *
 * Reads the index's table with the package's own FITS module (dist/src/fits, so build first).
 * Needs `query-starkd` from Debian's `astrometry.net` to read the index. The image is deterministic: the same index gives the same bytes.
 *
 * Pixel convention: FITS 1-based (x, y); PNG column = x - 1 and PNG row = y - 1 (top row is
 * y = 1), which is how solve-field reads a PNG.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { readBinTable } from '../dist/src/fits/index.js';

// The field: Orion (belt, sword, M42), 35"/px, rotated 15 degrees, 800 x 600 (7.8 x 5.8 deg).
const FIELD = {
  ra: 83.8,
  dec: -5.4,
  width: 800,
  height: 600,
  scaleArcsec: 35,
  rotDeg: 15,
};
const PSF_SIGMA = 1.3; // pixels
const BACKGROUND = 14; // counts (0-255)
// Linear peak brightness is 10^(-0.4 (mag - MAG_UNIT)); an asinh stretch then maps it to
// 0..(255 - BACKGROUND) without clipping, so brighter stars stay brighter (no flat tops
// that would scramble the brightness order the solver relies on).
const MAG_UNIT = 9;
const STRETCH_SOFT = 1;
const STRETCH_MAX = Math.pow(10, -0.4 * (-1.5 - MAG_UNIT)); // Sirius-bright maps to 255

function parseArgs(argv) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const out = { outDir: path.join(here, '..', 'assets'), index: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out-dir') out.outDir = path.resolve(argv[++i]);
    else if (a === '--index') out.index = path.resolve(argv[++i]);
    else if (a === '-h' || a === '--help') {
      console.log('usage: node scripts/make-sample-image.mjs [--out-dir DIR] [--index INDEX.fits]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return out;
}

function findIndex() {
  for (const dir of ['/usr/share/astrometry', '/usr/local/astrometry/data', '/usr/local/share/astrometry']) {
    for (const name of ['index-tycho2-10.littleendian.fits', 'index-tycho2-10.bigendian.fits', 'index-tycho2-10.fits']) {
      const p = path.join(dir, name);
      if (existsSync(p)) return p;
    }
  }
  throw new Error('index-tycho2-10 not found; run scripts/install-solver.sh or pass --index');
}


// ---------------------------------------------------------------- PNG (8-bit grayscale)

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

function encodePngGray8(width, height, pixels) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = 0; // no interlace
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width + 1)] = 0; // filter: none
    pixels.copy(raw, y * (width + 1) + 1, y * width, (y + 1) * width);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---------------------------------------------------------------- projection

const DEG = Math.PI / 180;

function makeWcs(f) {
  const s = f.scaleArcsec / 3600;
  const c = Math.cos(f.rotDeg * DEG);
  const n = Math.sin(f.rotDeg * DEG);
  // Same convention as the project's fixtures: east left, north up when rot = 0 (det < 0).
  const cd = [
    [-s * c, s * n],
    [s * n, s * c],
  ];
  return { crval: [f.ra, f.dec], crpix: [f.width / 2 + 0.5, f.height / 2 + 0.5], cd };
}

/** RA/Dec (deg) to 1-based pixel, or undefined when on the far hemisphere. */
function radecToPixel(wcs, ra, dec) {
  const ra0 = wcs.crval[0] * DEG;
  const dec0 = wcs.crval[1] * DEG;
  const a = ra * DEG;
  const d = dec * DEG;
  const cosc = Math.sin(dec0) * Math.sin(d) + Math.cos(dec0) * Math.cos(d) * Math.cos(a - ra0);
  if (cosc <= 0) return undefined;
  const xi = (Math.cos(d) * Math.sin(a - ra0)) / cosc / DEG;
  const eta = (Math.cos(dec0) * Math.sin(d) - Math.sin(dec0) * Math.cos(d) * Math.cos(a - ra0)) / cosc / DEG;
  const [[a11, a12], [a21, a22]] = wcs.cd;
  const det = a11 * a22 - a12 * a21;
  const u = (a22 * xi - a12 * eta) / det;
  const v = (-a21 * xi + a11 * eta) / det;
  return [wcs.crpix[0] + u, wcs.crpix[1] + v];
}

// ---------------------------------------------------------------- main

function main() {
  const args = parseArgs(process.argv.slice(2));
  const index = args.index ?? findIndex();
  const wcs = makeWcs(FIELD);
  const radius = ((Math.hypot(FIELD.width, FIELD.height) / 2) * FIELD.scaleArcsec) / 3600 + 0.5;

  const tmp = mkdtempSync(path.join(tmpdir(), 'sample-image-'));
  let table;
  try {
    const out = path.join(tmp, 'stars.fits');
    const r = spawnSync(
      'query-starkd',
      ['-r', String(FIELD.ra), '-d', String(FIELD.dec), '-R', radius.toFixed(3), '-T', '-o', out, index],
      { encoding: 'utf8' },
    );
    if (r.error) throw new Error(`query-starkd: ${r.error.message} (install astrometry.net: scripts/install-solver.sh)`);
    if (r.status !== 0) throw new Error(`query-starkd failed (${r.status}): ${r.stderr}`);
    table = readBinTable(new Uint8Array(readFileSync(out)));
    if (!table) throw new Error('query-starkd wrote no binary table');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const mag = ['MAG_VT', 'MAG'].find((name) => table.has(name));
  if (!table.has('RA') || !table.has('DEC') || !mag) throw new Error('index table lacks RA, DEC or MAG_VT');
  const ras = table.column('RA');
  const decs = table.column('DEC');
  const mags = table.column(mag);

  const { width: W, height: H } = FIELD;
  const img = new Float64Array(W * H);
  const box = Math.ceil(PSF_SIGMA * 5);
  let nstars = 0;
  for (let i = 0; i < table.rows; i++) {
    const p = radecToPixel(wcs, ras[i], decs[i]);
    if (!p) continue;
    const [px, py] = p; // 1-based
    const cx = px - 1; // 0-based column
    const cy = py - 1; // 0-based row
    if (cx < -box || cy < -box || cx > W - 1 + box || cy > H - 1 + box) continue;
    const peak = Math.pow(10, -0.4 * (mags[i] - MAG_UNIT));
    if (cx >= 0 && cy >= 0 && cx <= W - 1 && cy <= H - 1) nstars++;
    for (let y = Math.max(0, Math.floor(cy - box)); y <= Math.min(H - 1, Math.ceil(cy + box)); y++) {
      for (let x = Math.max(0, Math.floor(cx - box)); x <= Math.min(W - 1, Math.ceil(cx + box)); x++) {
        const r2 = (x - cx) ** 2 + (y - cy) ** 2;
        img[y * W + x] += peak * Math.exp(-r2 / (2 * PSF_SIGMA * PSF_SIGMA));
      }
    }
  }
  const pixels = Buffer.alloc(W * H);
  const norm = (255 - BACKGROUND) / Math.asinh(STRETCH_MAX / STRETCH_SOFT);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const k = y * W + x;
      // A faint, smooth sky gradient so the frame is not perfectly flat.
      const sky = BACKGROUND + (4 * (x + y)) / (W + H);
      const v = sky + norm * Math.asinh(img[k] / STRETCH_SOFT);
      pixels[k] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }

  mkdirSync(args.outDir, { recursive: true });
  const png = encodePngGray8(W, H, pixels);
  writeFileSync(path.join(args.outDir, 'sample.png'), png);
  const truth = {
    ra: FIELD.ra,
    dec: FIELD.dec,
    width: W,
    height: H,
    scale_arcsec: FIELD.scaleArcsec,
    rot_deg: FIELD.rotDeg,
    crpix: wcs.crpix,
    cd: wcs.cd,
    nstars,
    index: path.basename(index),
    note: 'ra/dec are the sky position of crpix (1-based FITS pixel, the image centre); PNG row = y - 1',
  };
  writeFileSync(path.join(args.outDir, 'sample.truth.json'), JSON.stringify(truth, null, 1) + '\n');
  console.log(`wrote ${path.join(args.outDir, 'sample.png')} (${png.length} bytes, ${nstars} stars) and sample.truth.json`);
}

try {
  main();
} catch (err) {
  console.error(`make-sample-image: ${err.message}`);
  process.exit(1);
}
