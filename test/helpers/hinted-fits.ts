/**
 * FITS frames as a capture program writes them, made from the small.fits fixture: the pointing
 * (OBJCTRA/OBJCTDEC) and the optics (FOCALLEN, XPIXSZ, XBINNING) in the header, and dithered
 * copies shifted by a few pixels, with the true centre of each from the fixture's truth.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { headerBytes, parseHeader, readImage, writeImage, type CardInput } from '../../src/fits/index.js';
import { Wcs, type SkyPoint } from '../../src/wcs/index.js';
import { FIXTURES } from './cli-run.js';

export interface FixtureTruth {
  ra: number;
  dec: number;
  width: number;
  height: number;
  scale_arcsec: number;
  crpix: [number, number];
  cd: [[number, number], [number, number]];
}

/** XPIXSZ is the binned pixel (MaxIm DL's definition): 2 × 3.76 µm at XBINNING = 2. */
export const BINNED_PIXEL_UM = 7.52;

/** The focal length (mm) that gives `scale` arcsec per binned pixel. */
export const focalLengthFor = (scale: number): number => (206.264806 * BINNED_PIXEL_UM) / scale;

/** `hh mm ss.ss`, as OBJCTRA is written. */
export function hoursText(deg: number): string {
  const centis = Math.round(((((deg % 360) + 360) % 360) / 15) * 360_000) % (24 * 360_000);
  return sexagesimal(centis, 100, '');
}

/** `±dd mm ss.s`, as OBJCTDEC is written. */
export function degreesText(deg: number): string {
  return sexagesimal(Math.round(Math.abs(deg) * 36_000), 10, deg < 0 ? '-' : '+');
}

/** A count of 1/perSecond seconds as `dd mm ss.f`, rounded once so that 60 never shows. */
function sexagesimal(units: number, perSecond: number, sign: string): string {
  const s = units / perSecond;
  const dd = Math.floor(s / 3600);
  const mm = Math.floor((s - dd * 3600) / 60);
  const ss = (s - dd * 3600 - mm * 60).toFixed(perSecond === 100 ? 2 : 1);
  return `${sign}${String(dd).padStart(2, '0')} ${String(mm).padStart(2, '0')} ${ss.padStart(perSecond === 100 ? 5 : 4, '0')}`;
}

/** The cards N.I.N.A. or Ekos would write for this pointing and scale. */
export function captureCards(pointing: SkyPoint, scale: number): CardInput[] {
  return [
    { keyword: 'OBJCTRA', value: hoursText(pointing.ra), comment: 'mount RA (hours)' },
    { keyword: 'OBJCTDEC', value: degreesText(pointing.dec), comment: 'mount Dec (degrees)' },
    { keyword: 'FOCALLEN', value: Number(focalLengthFor(scale).toFixed(2)), comment: 'mm' },
    { keyword: 'XPIXSZ', value: BINNED_PIXEL_UM, comment: 'binned pixel, um' },
    { keyword: 'YPIXSZ', value: BINNED_PIXEL_UM, comment: 'binned pixel, um' },
    { keyword: 'XBINNING', value: 2 },
    { keyword: 'YBINNING', value: 2 },
  ];
}

export interface Frame {
  bytes: Uint8Array;
  /** Where the frame's centre pixel truly points. */
  centre: SkyPoint;
}

/** small.fits' truth, its image, and a maker of shifted frames. */
export async function smallField(): Promise<{ truth: FixtureTruth; frame: (dx: number, dy: number, cards?: readonly CardInput[]) => Frame }> {
  const truth = JSON.parse(await readFile(path.join(FIXTURES, 'small.truth.json'), 'utf8')) as FixtureTruth;
  const image = readImage(gunzipSync(await readFile(path.join(FIXTURES, 'small.fits.gz'))));
  const wcs = truthWcs(truth);
  const { width, height } = image;
  const sky = image.data[0] as number;
  const frame = (dx: number, dy: number, cards: readonly CardInput[] = []): Frame => {
    // The sky moves by (dx, dy) on the sensor: new pixel (x, y) shows old (x - dx, y - dy).
    const data = new Float32Array(width * height).fill(sky);
    for (let y = 0; y < height; y++) {
      const from = y - dy;
      if (from < 0 || from >= height) continue;
      for (let x = 0; x < width; x++) {
        const fx = x - dx;
        if (fx >= 0 && fx < width) data[y * width + x] = image.data[from * width + fx] as number;
      }
    }
    const centre = wcs.pixelToSky((width + 1) / 2 - dx, (height + 1) / 2 - dy);
    return { bytes: writeImage({ width, height, bitpix: -32, data, cards }), centre };
  };
  return { truth, frame };
}

export function truthWcs(t: FixtureTruth): Wcs {
  return new Wcs(
    parseHeader(
      headerBytes([
        { keyword: 'CTYPE1', value: 'RA---TAN' },
        { keyword: 'CTYPE2', value: 'DEC--TAN' },
        { keyword: 'CRVAL1', value: t.ra },
        { keyword: 'CRVAL2', value: t.dec },
        { keyword: 'CRPIX1', value: t.crpix[0] },
        { keyword: 'CRPIX2', value: t.crpix[1] },
        { keyword: 'CD1_1', value: t.cd[0][0] },
        { keyword: 'CD1_2', value: t.cd[0][1] },
        { keyword: 'CD2_1', value: t.cd[1][0] },
        { keyword: 'CD2_2', value: t.cd[1][1] },
        { keyword: 'IMAGEW', value: t.width },
        { keyword: 'IMAGEH', value: t.height },
      ]),
    ).header,
  );
}
