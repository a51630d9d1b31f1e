/**
 * Putting a solved WCS into an image's primary header. Only the header is rewritten: kept
 * cards keep their card images, and the data and every later HDU are copied byte for byte.
 */
import { FitsError } from './fits-error.js';
import { FitsHeader, headerBytes, parseHeader, type CardInput, type FitsCard } from './header.js';
import { isFits } from './hdu.js';

/** Keywords of a solved WCS that replace the image's own (as the Python seed's CLI merges them). */
export function isWcsKeyword(keyword: string): boolean {
  return (
    /^(CTYPE|CRVAL|CRPIX|CUNIT)\d$/.test(keyword) ||
    /^CD\d_\d$/.test(keyword) ||
    /^(A|B|AP|BP)_ORDER$/.test(keyword) ||
    /^(A|B|AP|BP)_\d+_\d+$/.test(keyword) ||
    /^(A|B|AP|BP)_DMAX$/.test(keyword) ||
    ['EQUINOX', 'LONPOLE', 'LATPOLE', 'IMAGEW', 'IMAGEH', 'WCSAXES', 'RADESYS'].includes(keyword)
  );
}

/** Older WCS conventions that must not stay next to a CD matrix (PC and CD are exclusive). */
function isConflictingWcsKeyword(keyword: string): boolean {
  return /^PC\d_\d$/.test(keyword) || /^PC0\d{2}0\d{2}$/.test(keyword) || /^(CDELT|CROTA)\d$/.test(keyword);
}

/** The WCS cards of a solved job's wcs file. */
export function wcsCards(wcsFile: Uint8Array): FitsCard[] {
  return parseHeader(wcsFile).header.cards.filter((c) => isWcsKeyword(c.keyword));
}

function withHeader(image: Uint8Array, cards: readonly CardInput[]): Uint8Array {
  const { dataStart } = parseHeader(image);
  const head = headerBytes(cards);
  const out = new Uint8Array(head.length + (image.length - dataStart));
  out.set(head);
  out.set(image.subarray(dataStart), head.length);
  return out;
}

/**
 * A copy of `image` (a FITS file) whose primary header carries the solved WCS and no other:
 * every WCS card the image had (its own solution: RADESYS, EQUINOX, SIP, PV, CD, PC, CDELT,
 * CROTA…) goes first, so a reader sees exactly the new one (a stale `RADESYS = 'FK4'` alone
 * moves it by 0.67″), then the solved cards are added before END.
 */
export function mergeWcsIntoFits(image: Uint8Array, wcsFile: Uint8Array, note?: string): Uint8Array {
  if (!isFits(image)) throw new FitsError('The input is not a FITS file.');
  const { header } = parseHeader(image);
  return withHeader(image, mergedCards(header.cards, wcsFile, note));
}

/**
 * The cards of one HDU's header with the solved WCS in place of its own (see
 * `mergeWcsIntoFits`); throws FitsError when the WCS was solved for an image of another size.
 */
export function mergedCards(cards: readonly FitsCard[], wcsFile: Uint8Array, note?: string): CardInput[] {
  const header = new FitsHeader(cards);
  const solved = wcsCards(wcsFile);
  if (solved.length === 0) throw new FitsError('The wcs file has no WCS cards.');
  // A WCS solved for another image (another size) would put every pixel in the wrong place.
  const wcsHeader = parseHeader(wcsFile).header;
  const [w, h, iw, ih] = [header.number('NAXIS1', 0), header.number('NAXIS2', 0), wcsHeader.number('IMAGEW', 0), wcsHeader.number('IMAGEH', 0)];
  if (iw > 0 && ih > 0 && (w !== iw || h !== ih)) {
    throw new FitsError(`The image is ${w} × ${h} pixels, but the WCS was solved for one of ${iw} × ${ih}: not merged.`);
  }
  const kept = cards.filter((c) => !NEW_WCS_REPLACES.test(c.keyword) && !isConflictingWcsKeyword(c.keyword));
  return [...kept, ...(note ? [{ keyword: 'COMMENT', comment: note.slice(0, 72) }] : []), ...solved];
}

/** Every keyword of a WCS solution, old conventions included: what a new solution replaces whole. */
const NEW_WCS_REPLACES = /^(WCSAXES|CTYPE\d|CRVAL\d|CRPIX\d|CUNIT\d|CDELT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|EQUINOX|EPOCH|RADESYS|RADECSYS|LONPOLE|LATPOLE|IMAGEW|IMAGEH|A_\w+|B_\w+|AP_\w+|BP_\w+)$/;
const STRUCTURAL = /^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|END)$/;

/**
 * What astrometry.net's `new-wcs` writes (nova's new_fits_file): the image's header without any
 * WCS card, then every card of the WCS file's header but the structural ones, comments included.
 */
export function replaceWcs(image: Uint8Array, wcsFile: Uint8Array): Uint8Array {
  const { header } = parseHeader(image);
  const keep = header.cards.filter((c) => !NEW_WCS_REPLACES.test(c.keyword));
  const add = parseHeader(wcsFile).header.cards.filter((c) => !STRUCTURAL.test(c.keyword));
  return withHeader(image, [...keep, ...add]);
}
