/** The flags of `astrometry-net indexes list|install`, checked before anything is fetched. */
import { DATA_SITE, DEFAULT_SERIES, SERIES_IDS, type SeriesId, type Sky } from './catalogue.js';
import { IndexesUsageError } from './errors.js';

export interface ListArgs {
  command: 'list';
  dir?: string;
  systemIndexes: boolean;
}

export interface InstallArgs {
  command: 'install';
  /** Field widths, arcminutes. */
  widthArcmin: [number, number];
  series: SeriesId[];
  sky?: Sky;
  mirror: string;
  dir?: string;
  dryRun: boolean;
  /** Resumes after a transfer broke off, per file. */
  retries: number;
}

export type IndexesArgs = ListArgs | InstallArgs | { command: 'help' };

const bad = (flag: string, value: string, allowed: string): never => {
  throw new IndexesUsageError(`${flag}: invalid value "${value}"; allowed: ${allowed}`);
};

function number(flag: string, value: string, min: number, max: number, allowed: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) bad(flag, value, allowed);
  return n;
}

const FLAGS: Record<'list' | 'install', readonly string[]> = {
  list: ['--dir', '--no-system-indexes'],
  install: ['--width', '--series', '--ra', '--dec', '--radius', '--mirror', '--dir', '--dry-run', '--retries'],
};
const SWITCHES = ['--no-system-indexes', '--dry-run'];

export function parseIndexesArgs(argv: readonly string[]): IndexesArgs {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') return { command: 'help' };
  if (command !== 'list' && command !== 'install') {
    throw new IndexesUsageError(`unknown subcommand "${command}"; allowed: list, install`);
  }
  const values = new Map<string, string[]>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (arg === '--help' || arg === '-h') return { command: 'help' };
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!FLAGS[command].includes(flag)) throw new IndexesUsageError(`unknown argument "${arg}"; allowed flags for ${command}: ${FLAGS[command].join(', ')}`);
    let value = '';
    if (SWITCHES.includes(flag)) {
      if (eq > 0) throw new IndexesUsageError(`${flag} takes no value`);
    } else if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = rest[i + 1];
      if (next === undefined) throw new IndexesUsageError(`${flag}: missing value`);
      value = next;
      i++;
    }
    values.set(flag, [...(values.get(flag) ?? []), value]);
  }
  const one = (flag: string): string | undefined => {
    const v = values.get(flag);
    if (v && v.length > 1) throw new IndexesUsageError(`${flag} given ${v.length} times; give it once`);
    return v?.[0];
  };
  const dir = one('--dir');
  if (dir === '') bad('--dir', dir, 'a directory path');

  if (command === 'list') return { command, ...(dir !== undefined ? { dir } : {}), systemIndexes: !values.has('--no-system-indexes') };

  const width = one('--width');
  if (width === undefined) throw new IndexesUsageError('--width MIN-MAX is required: the field widths to serve, in degrees (e.g. --width 0.4-0.9)');
  const m = /^\s*(\d*\.?\d+(?:e-?\d+)?)\s*-\s*(\d*\.?\d+(?:e-?\d+)?)\s*$/i.exec(width);
  const lo = Number(m?.[1]);
  const hi = Number(m?.[2]);
  if (!m || !(lo > 0) || !(hi >= lo) || hi > 180) bad('--width', width, 'MIN-MAX in degrees, 0 < MIN <= MAX <= 180, e.g. 0.4-0.9');

  const series: SeriesId[] = [];
  for (const v of values.get('--series') ?? []) {
    for (const s of v.split(',')) {
      const n = Number(s);
      if (!(SERIES_IDS as readonly number[]).includes(n)) bad('--series', s, SERIES_IDS.join(', '));
      if (!series.includes(n as SeriesId)) series.push(n as SeriesId);
    }
  }

  const ra = one('--ra');
  const dec = one('--dec');
  const radius = one('--radius');
  const given = [ra, dec, radius].filter((v) => v !== undefined).length;
  if (given !== 0 && given !== 3) throw new IndexesUsageError('--ra, --dec and --radius go together: the sky (degrees) whose healpix tiles to fetch');
  const sky =
    given === 3
      ? {
          ra: number('--ra', ra as string, 0, 360, 'a right ascension in degrees, 0 to 360'),
          dec: number('--dec', dec as string, -90, 90, 'a declination in degrees, -90 to 90'),
          radius: number('--radius', radius as string, 0, 180, 'a radius in degrees, 0 to 180'),
        }
      : undefined;

  const mirror = one('--mirror') ?? DATA_SITE;
  let url: URL | undefined;
  try {
    url = new URL(mirror);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    bad('--mirror', mirror, `an http(s) URL laid out as the data site (default ${DATA_SITE}): <mirror>/4100/index-4107.fits`);
  }

  const retriesText = one('--retries');
  const retries = retriesText === undefined ? 3 : number('--retries', retriesText, 0, 20, 'a whole number from 0 to 20');
  if (!Number.isInteger(retries)) bad('--retries', String(retriesText), 'a whole number from 0 to 20');

  return {
    command,
    widthArcmin: [lo * 60, hi * 60],
    series: series.length > 0 ? series : [...DEFAULT_SERIES],
    ...(sky ? { sky } : {}),
    mirror: mirror.replace(/\/+$/, ''),
    ...(dir !== undefined ? { dir } : {}),
    dryRun: values.has('--dry-run'),
    retries,
  };
}
