/**
 * Whether a file is the astrometry.net index it claims to be, from its FITS structure alone
 * (the data site publishes no checksums): the primary header's index cards (AN_FILE = 'QUAD',
 * INDEXID, HEALPIX, SCALE_L/U, NQUADS, NSTARS), the code and star kd-trees among the extensions,
 * and every HDU's declared size adding up to exactly the file's size — which is also the size
 * the mirror announced. A truncated, padded or foreign file fails one of these.
 */
import { open } from 'node:fs/promises';
import { BLOCK, dataSizeOf, type FitsHeader } from 'astrometry-net-client/fits';
import { InvalidIndexError } from './errors.js';
import { intCard as int, numberCard as num, readHeaderAt, startsAsFits } from './header.js';

export interface ExpectedIndex {
  indexId: number;
  /** The tile, or -1 for a whole-sky file. */
  healpix: number;
  /** The size the mirror announced, bytes. */
  size: number;
}

const str = (h: FitsHeader, key: string): string | undefined => h.string(key)?.trim();

/** Bytes of the data part an HDU header declares (before padding), or a reason it cannot be read. */
function dataBytes(h: FitsHeader): number | string {
  try {
    return dataSizeOf(h);
  } catch (err) {
    return `an invalid header (${(err as Error).message})`;
  }
}

/** Throws InvalidIndexError naming the first thing wrong; resolves when `file` is the expected index. */
export async function validateIndexFile(file: string, name: string, expected: ExpectedIndex): Promise<void> {
  const fail = (reason: string): never => {
    throw new InvalidIndexError(name, reason);
  };
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size !== expected.size) fail(`it has ${size} bytes, the mirror announced ${expected.size}`);
    if (size === 0 || size % BLOCK !== 0) fail(`its size (${size} bytes) is not a whole number of FITS blocks`);
    if (!(await startsAsFits(fh))) fail('it is not a FITS file (no SIMPLE card first)');
    let at = 0;
    let primary: FitsHeader | undefined;
    const trees = new Set<string>();
    let hdus = 0;
    while (at < size) {
      const h = await readHeaderAt(fh, at, size);
      if (typeof h === 'string') return fail(h);
      const data = dataBytes(h.header);
      if (typeof data === 'string') return fail(`HDU ${hdus} has ${data}`);
      if (hdus === 0) primary = h.header;
      else if (str(h.header, 'XTENSION') === undefined) fail(`HDU ${hdus} at byte ${at} is not a FITS extension`);
      const kind = str(h.header, 'AN_FILE');
      if (hdus > 0 && kind) trees.add(kind);
      at += h.bytes + Math.ceil(data / BLOCK) * BLOCK;
      hdus++;
    }
    if (at !== size) fail(`its HDUs declare ${at} bytes, the file has ${size}`);
    const p = primary as FitsHeader;
    if (str(p, 'AN_FILE') !== 'QUAD') fail("its primary header lacks AN_FILE = 'QUAD' (it is no index file)");
    const id = int(p, 'INDEXID');
    if (id !== expected.indexId) fail(`its INDEXID is ${id ?? 'missing'}, expected ${expected.indexId}`);
    const hp = int(p, 'HEALPIX');
    if (hp !== expected.healpix) fail(`its HEALPIX is ${hp ?? 'missing'}, expected ${expected.healpix}`);
    const lo = num(p, 'SCALE_L');
    const hi = num(p, 'SCALE_U');
    if (lo === undefined || hi === undefined || !(lo > 0) || !(hi > lo)) fail('its SCALE_L / SCALE_U (the quad sizes) are missing or inconsistent');
    if (!((int(p, 'NQUADS') ?? 0) > 0) || !((int(p, 'NSTARS') ?? 0) > 0)) fail('its NQUADS / NSTARS are missing or zero');
    for (const tree of ['CKDT', 'SKDT']) if (!trees.has(tree)) fail(`it has no ${tree === 'CKDT' ? 'code' : 'star'} kd-tree (AN_FILE = '${tree}')`);
  } finally {
    await fh.close();
  }
}
