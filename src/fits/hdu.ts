/**
 * Walking the header-data units of a FITS file held in memory.
 */
import { FitsError } from './fits-error.js';
import { BLOCK, FitsHeader, parseHeader } from './header.js';

export interface FitsHdu {
  header: FitsHeader;
  /** Byte offset of the header. */
  headerStart: number;
  /** Byte offset of the data (the header padded to a block). */
  dataStart: number;
  /** Data size in bytes, without padding. */
  dataSize: number;
  /** Byte offset of the next HDU. */
  end: number;
}

const BITPIX = new Set([8, 16, 32, 64, -32, -64]);

/** True when the bytes start like a FITS file (`SIMPLE  =`); enough to sniff a file's type. */
export function isFits(bytes: Uint8Array): boolean {
  const magic = 'SIMPLE  =';
  if (bytes.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (bytes[i] !== magic.charCodeAt(i)) return false;
  return true;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Size in bytes of an HDU's data, from its header; throws on a malformed BITPIX or NAXIS. */
export function dataSizeOf(header: FitsHeader): number {
  const bitpix = header.number('BITPIX');
  const naxis = header.number('NAXIS');
  if (!BITPIX.has(bitpix)) throw new FitsError(`The FITS header's BITPIX ${bitpix} is not one of 8, 16, 32, 64, -32, -64.`);
  if (!Number.isInteger(naxis) || naxis < 0 || naxis > 999) throw new FitsError(`The FITS header's NAXIS ${naxis} is out of range.`);
  if (naxis === 0) return 0;
  let elements = 1;
  for (let i = 1; i <= naxis; i++) {
    const n = header.number(`NAXIS${i}`);
    if (!Number.isInteger(n) || n < 0) throw new FitsError(`The FITS header's NAXIS${i} ${n} is not a size.`);
    elements *= n;
  }
  return (Math.abs(bitpix) / 8) * header.number('GCOUNT', 1) * (header.number('PCOUNT', 0) + elements);
}

/**
 * The HDUs of a FITS file, at most `max`. The primary header must be valid (SIMPLE = T);
 * reading stops quietly at bytes after the last HDU that are not an extension.
 */
export function readHdus(bytes: Uint8Array, max = Infinity): FitsHdu[] {
  if (!isFits(bytes)) throw new FitsError('Not a FITS file: it does not start with SIMPLE.');
  const hdus: FitsHdu[] = [];
  let offset = 0;
  while (hdus.length < max && offset + BLOCK <= bytes.length) {
    let header: FitsHeader;
    let dataStart: number;
    let dataSize: number;
    try {
      ({ header, dataStart } = parseHeader(bytes, offset));
      if (hdus.length === 0 ? header.get('SIMPLE') !== true : typeof header.get('XTENSION') !== 'string') {
        throw new FitsError(hdus.length === 0 ? 'Not a FITS file: SIMPLE is not T.' : 'Not a FITS extension.');
      }
      dataSize = dataSizeOf(header);
    } catch (err) {
      if (hdus.length > 0) break;
      throw err;
    }
    const end = dataStart + Math.ceil(dataSize / BLOCK) * BLOCK;
    hdus.push({ header, headerStart: offset, dataStart, dataSize, end });
    offset = end;
  }
  if (hdus.length === 0) throw new FitsError('Not a FITS file: shorter than one 2880-byte block.');
  return hdus;
}
