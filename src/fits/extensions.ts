/**
 * Multi-extension FITS: which HDUs hold an image, one of them as a FITS file of its own (what
 * is uploaded to solve it), and a copy of the whole file whose image HDUs each carry their own
 * solved WCS. HDUs are numbered from 0, the primary, as cfitsio and astropy number them.
 */
import { FitsError } from './fits-error.js';
import { headerBytes, type CardInput } from './header.js';
import { readHdus, type FitsHdu } from './hdu.js';
import { isWcsKeyword, mergedCards } from './merge.js';
import { concatBytes } from '../transport/bytes.js';

/** An HDU that holds a 2-D image: NAXIS = 2, both axes non-empty, in the primary or an IMAGE extension. */
export function isImageHdu(hdu: FitsHdu): boolean {
  const h = hdu.header;
  const xtension = h.get('XTENSION');
  const image = xtension === undefined || String(xtension).trim().toUpperCase() === 'IMAGE';
  return image && h.number('NAXIS', 0) === 2 && h.number('NAXIS1', 0) > 0 && h.number('NAXIS2', 0) > 0;
}

/** The numbers of the HDUs of a FITS file that hold a 2-D image, in order. */
export function imageHduNumbers(bytes: Uint8Array): number[] {
  return readHdus(bytes).flatMap((hdu, i) => (isImageHdu(hdu) ? [i] : []));
}

/** What an HDU is, for a message: `IMAGE 100 × 80`, `BINTABLE`, `empty primary`. */
export function describeHdu(hdu: FitsHdu, index: number): string {
  const h = hdu.header;
  const kind = index === 0 ? 'primary' : String(h.get('XTENSION') ?? '?').trim();
  const axes = h.number('NAXIS', 0);
  if (axes === 0) return `${kind}, no data`;
  const sizes = Array.from({ length: axes }, (_, i) => h.number(`NAXIS${i + 1}`, 0)).join(' × ');
  return `${kind} ${sizes}`;
}

/** Cards of an extension's header that a primary header must not carry. */
const EXTENSION_ONLY = new Set(['XTENSION', 'PCOUNT', 'GCOUNT', 'INHERIT', 'EXTEND']);

/**
 * Cards of a primary header that say nothing of an extension's image: its structure, its data's
 * scaling and checksums, its own WCS (the extension's pixels are not the primary's), and notes.
 */
function describesOnlyItsOwnHdu(keyword: string): boolean {
  return (
    /^NAXIS\d*$/.test(keyword) ||
    isWcsKeyword(keyword) ||
    /^PC\d_\d$/.test(keyword) ||
    /^(CDELT|CROTA)\d$/.test(keyword) ||
    [
      'SIMPLE', 'BITPIX', 'EXTEND', 'BSCALE', 'BZERO', 'BLANK', 'BUNIT', 'DATAMIN', 'DATAMAX',
      'CHECKSUM', 'DATASUM', 'EXTNAME', 'EXTVER', 'EXTLEVEL', 'COMMENT', 'HISTORY', '',
    ].includes(keyword) ||
    EXTENSION_ONLY.has(keyword)
  );
}

/**
 * HDU `index` of a FITS file as a single-HDU FITS file: its header made a primary one (SIMPLE
 * in place of XTENSION; PCOUNT and GCOUNT dropped), its data copied byte for byte. An extension
 * also gets the primary header's cards it lacks (the observation's OBJCTRA, FOCALLEN, DATE-OBS:
 * capture programs write them there once for every extension), unless it says INHERIT = F;
 * the primary's structural, scaling and WCS cards are never copied.
 */
export function extractHdu(bytes: Uint8Array, index: number): Uint8Array {
  const hdus = readHdus(bytes);
  const hdu = hdus[index];
  if (!hdu) throw new FitsError(`The FITS file has no HDU ${index} (it has ${hdus.length}).`);
  if (!isImageHdu(hdu)) throw new FitsError(`HDU ${index} of the FITS file holds no 2-D image (${describeHdu(hdu, index)}).`);
  const own = hdu.header.cards.filter((c) => !EXTENSION_ONLY.has(c.keyword) && c.keyword !== 'SIMPLE');
  const present = new Set(own.map((c) => c.keyword));
  const primary = index > 0 && hdu.header.get('INHERIT') !== false ? (hdus[0] as FitsHdu).header.cards : [];
  const inherited = primary.filter((c) => !describesOnlyItsOwnHdu(c.keyword) && !present.has(c.keyword));
  const cards: CardInput[] = [
    { keyword: 'SIMPLE', value: true, comment: 'conforms to FITS standard' },
    ...own,
    ...(inherited.length > 0 ? [{ keyword: 'COMMENT', comment: `Cards below: from the primary HDU (this was HDU ${index})` }, ...inherited] : []),
  ];
  const head = headerBytes(cards);
  const data = bytes.subarray(hdu.dataStart, hdu.end);
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  out.set(data, head.length);
  return out;
}

/**
 * A copy of a FITS file where each HDU in `wcsByHdu` carries its own solved WCS (the WCS file
 * of that HDU's solve), its old WCS cards removed as `mergeWcsIntoFits` removes them. Every
 * other HDU, and every data unit, is copied byte for byte.
 */
export function mergeWcsIntoHdus(bytes: Uint8Array, wcsByHdu: ReadonlyMap<number, Uint8Array>, note?: (hdu: number) => string | undefined): Uint8Array {
  const hdus = readHdus(bytes);
  for (const index of wcsByHdu.keys()) {
    const hdu = hdus[index];
    if (!hdu || !isImageHdu(hdu)) throw new FitsError(`HDU ${index} of the FITS file holds no 2-D image: no WCS merged.`);
  }
  const parts: Uint8Array[] = hdus.map((hdu, i) => {
    const wcs = wcsByHdu.get(i);
    if (!wcs) return bytes.subarray(hdu.headerStart, hdu.end);
    const head = headerBytes(mergedCards(hdu.header.cards, wcs, note?.(i)));
    const out = new Uint8Array(head.length + (hdu.end - hdu.dataStart));
    out.set(head);
    out.set(bytes.subarray(hdu.dataStart, hdu.end), head.length);
    return out;
  });
  return concatBytes(parts);
}

