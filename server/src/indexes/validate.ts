/**
 * Whether a file is the astrometry.net index it claims to be, from its FITS structure alone
 * (the data site publishes no checksums): the primary header's index cards (AN_FILE = 'QUAD',
 * INDEXID, HEALPIX, SCALE_L/U, NQUADS, NSTARS), the code and star kd-trees among the extensions,
 * and every HDU's declared size adding up to exactly the file's size — which is also the size
 * the mirror announced. A truncated, padded or foreign file fails one of these.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { InvalidIndexError } from './errors.js';

const BLOCK = 2880;
/** More header blocks than this in one HDU: not an index file (theirs have one or two). */
const MAX_HEADER_BLOCKS = 64;

export interface ExpectedIndex {
  indexId: number;
  /** The tile, or -1 for a whole-sky file. */
  healpix: number;
  /** The size the mirror announced, bytes. */
  size: number;
}

type Cards = Map<string, string>;

async function readHeader(fh: FileHandle, at: number, size: number): Promise<{ cards: Cards; bytes: number } | string> {
  const cards: Cards = new Map();
  const buf = Buffer.alloc(BLOCK);
  for (let block = 0; block < MAX_HEADER_BLOCKS; block++) {
    const offset = at + block * BLOCK;
    if (offset + BLOCK > size) return `a header at byte ${at} runs past the end of the file`;
    const { bytesRead } = await fh.read(buf, 0, BLOCK, offset);
    if (bytesRead < BLOCK) return `a header at byte ${at} runs past the end of the file`;
    for (let c = 0; c < BLOCK; c += 80) {
      const card = buf.toString('latin1', c, c + 80);
      const key = card.slice(0, 8).trimEnd();
      if (key === 'END') return { cards, bytes: (block + 1) * BLOCK };
      if (card.slice(8, 10) === '= ') cards.set(key, (card.slice(10).split('/')[0] ?? '').trim());
    }
  }
  return `no END card within ${MAX_HEADER_BLOCKS} header blocks at byte ${at}`;
}

const int = (cards: Cards, key: string): number | undefined => {
  const v = cards.get(key);
  return v !== undefined && /^[+-]?\d+$/.test(v) ? Number(v) : undefined;
};
const num = (cards: Cards, key: string): number | undefined => {
  const v = cards.get(key);
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isFinite(n) ? n : undefined;
};
const str = (cards: Cards, key: string): string | undefined => /^'(.*)'$/.exec(cards.get(key) ?? '')?.[1]?.trim();

/** Bytes of the data part an HDU header declares (before padding), or a reason it cannot be read. */
function dataBytes(cards: Cards): number | string {
  const bitpix = int(cards, 'BITPIX');
  const naxis = int(cards, 'NAXIS');
  if (bitpix === undefined || ![8, 16, 32, 64, -32, -64].includes(bitpix)) return 'a header without a valid BITPIX';
  if (naxis === undefined || naxis < 0 || naxis > 999) return 'a header without a valid NAXIS';
  if (naxis === 0) return 0;
  let n = Math.abs(bitpix) / 8;
  for (let i = 1; i <= naxis; i++) {
    const axis = int(cards, `NAXIS${i}`);
    if (axis === undefined || axis < 0) return `a header without a valid NAXIS${i}`;
    n *= axis;
  }
  return (n + (int(cards, 'PCOUNT') ?? 0)) * (int(cards, 'GCOUNT') ?? 1);
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
    const head = Buffer.alloc(9);
    await fh.read(head, 0, 9, 0);
    if (head.toString('latin1') !== 'SIMPLE  =') fail('it is not a FITS file (no SIMPLE card first)');
    let at = 0;
    let primary: Cards | undefined;
    const trees = new Set<string>();
    let hdus = 0;
    while (at < size) {
      const h = await readHeader(fh, at, size);
      if (typeof h === 'string') return fail(h);
      const data = dataBytes(h.cards);
      if (typeof data === 'string') return fail(`HDU ${hdus} has ${data}`);
      if (hdus === 0) primary = h.cards;
      else if (str(h.cards, 'XTENSION') === undefined) fail(`HDU ${hdus} at byte ${at} is not a FITS extension`);
      const kind = str(h.cards, 'AN_FILE');
      if (hdus > 0 && kind) trees.add(kind);
      at += h.bytes + Math.ceil(data / BLOCK) * BLOCK;
      hdus++;
    }
    if (at !== size) fail(`its HDUs declare ${at} bytes, the file has ${size}`);
    const p = primary as Cards;
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
