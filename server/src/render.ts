/**
 * Renders what a browser cannot show (FITS images, binary PNM, source lists) as PNG, for
 * `/image/<id>` and thumbnails. nova renders FITS as JPEG; Node ships no JPEG encoder, and a
 * PNG labelled `image/png` keeps the "check Content-Type" contract honest.
 */
import { crc32, deflateSync } from 'node:zlib';
import { readHdus } from 'astrometry-net-client/fits';

export interface Raster {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

export function encodePng(r: Raster): Buffer {
  const rowLen = r.width * r.channels;
  const raw = Buffer.alloc((rowLen + 1) * r.height);
  for (let y = 0; y < r.height; y++) {
    raw[y * (rowLen + 1)] = 0; // filter: none
    raw.set(r.data.subarray(y * rowLen, (y + 1) * rowLen), y * (rowLen + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(r.width, 0);
  ihdr.writeUInt32BE(r.height, 4);
  ihdr[8] = 8;
  ihdr[9] = r.channels === 3 ? 2 : 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** Output size for a long side of at most `maxSide`, nearest-neighbour sampled. */
function fit(w: number, h: number, maxSide: number): { ow: number; oh: number; step: number } {
  const step = Math.max(1, Math.max(w, h) / maxSide);
  return { ow: Math.max(1, Math.floor(w / step)), oh: Math.max(1, Math.floor(h / step)), step };
}

/** The primary image of a FITS file, linearly stretched between the 1st and 99.5th percentile. */
export function renderFits(buf: Buffer, maxSide: number): Raster {
  const hdus = readHdus(buf, 1);
  const p = hdus[0];
  if (!p) throw new Error('no FITS HDU');
  const bitpix = Number(p.header.get('BITPIX'));
  const w = Number(p.header.get('NAXIS1'));
  const h = Number(p.header.get('NAXIS2'));
  const bscale = Number(p.header.get('BSCALE') ?? 1);
  const bzero = Number(p.header.get('BZERO') ?? 0);
  const bytes = Math.abs(bitpix) / 8;
  if (p.dataStart + w * h * bytes > buf.length) throw new Error('truncated FITS data');
  const read = (i: number): number => {
    const at = p.dataStart + i * bytes;
    switch (bitpix) {
      case 8:
        return buf.readUInt8(at);
      case 16:
        return buf.readInt16BE(at);
      case 32:
        return buf.readInt32BE(at);
      case 64:
        return Number(buf.readBigInt64BE(at));
      case -32:
        return buf.readFloatBE(at);
      default:
        return buf.readDoubleBE(at);
    }
  };
  const { ow, oh, step } = fit(w, h, maxSide);
  const vals = new Float64Array(ow * oh);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      const sx = Math.min(w - 1, Math.floor(ox * step));
      // FITS rows run bottom-up; images are shown top-down.
      const sy = h - 1 - Math.min(h - 1, Math.floor(oy * step));
      vals[oy * ow + ox] = read(sy * w + sx) * bscale + bzero;
    }
  }
  const finite = Array.from(vals).filter(Number.isFinite).sort((a, b) => a - b);
  const lo = finite[Math.floor(finite.length * 0.01)] ?? 0;
  const hi = finite[Math.min(finite.length - 1, Math.floor(finite.length * 0.995))] ?? 1;
  const span = hi > lo ? hi - lo : 1;
  const data = new Uint8Array(ow * oh);
  for (let i = 0; i < vals.length; i++) {
    const v = vals[i] ?? 0;
    data[i] = Number.isFinite(v) ? Math.max(0, Math.min(255, Math.round(((v - lo) / span) * 255))) : 0;
  }
  return { width: ow, height: oh, channels: 1, data };
}

/** Binary PGM/PPM (P5/P6) with maxval < 65536. */
export function renderPnm(buf: Buffer, maxSide: number): Raster {
  const magic = buf.subarray(0, 2).toString('latin1');
  if (magic !== 'P5' && magic !== 'P6') throw new Error('only binary PGM/PPM can be rendered');
  const header: number[] = [];
  let i = 2;
  while (header.length < 3) {
    while (i < buf.length && /\s/.test(String.fromCharCode(buf[i] ?? 0))) i++;
    if (buf[i] === 0x23) {
      while (i < buf.length && buf[i] !== 0x0a) i++;
      continue;
    }
    let tok = '';
    while (i < buf.length && /\d/.test(String.fromCharCode(buf[i] ?? 0))) tok += String.fromCharCode(buf[i++] ?? 0);
    if (tok === '') throw new Error('bad PNM header');
    header.push(Number(tok));
  }
  i++; // the single whitespace before the raster
  const [w = 0, h = 0, maxval = 255] = header;
  const channels = magic === 'P6' ? 3 : 1;
  const sample = maxval < 256 ? 1 : 2;
  if (i + w * h * channels * sample > buf.length) throw new Error('truncated PNM data');
  const { ow, oh, step } = fit(w, h, maxSide);
  const data = new Uint8Array(ow * oh * channels);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      const s = (Math.min(h - 1, Math.floor(oy * step)) * w + Math.min(w - 1, Math.floor(ox * step))) * channels;
      for (let c = 0; c < channels; c++) {
        const at = i + (s + c) * sample;
        const v = sample === 1 ? (buf[at] ?? 0) : buf.readUInt16BE(at);
        data[(oy * ow + ox) * channels + c] = Math.round((v / maxval) * 255);
      }
    }
  }
  return { width: ow, height: oh, channels: channels as 1 | 3, data };
}

/** A source list drawn as white dots on black, as nova renders source lists. */
export function renderSources(x: number[], y: number[], width: number, height: number, maxSide: number): Raster {
  const { ow, oh, step } = fit(width, height, maxSide);
  const data = new Uint8Array(ow * oh);
  for (let k = 0; k < x.length; k++) {
    const cx = Math.round(((x[k] ?? 0) - 1) / step);
    const cy = Math.round(((y[k] ?? 0) - 1) / step);
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const px = cx + dx;
        const py = cy + dy;
        if (px >= 0 && py >= 0 && px < ow && py < oh) data[py * ow + px] = 255;
      }
    }
  }
  return { width: ow, height: oh, channels: 1, data };
}
