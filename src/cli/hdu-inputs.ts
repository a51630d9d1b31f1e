/**
 * `solve --hdu N|all`: each selected image HDU of a FITS input becomes an input of its own, cut
 * out as a single-HDU FITS file in a private temp folder (uploaded, or extracted locally, like
 * any file), and once they are solved the input's `<stem>.solved.fits` carries each HDU's own
 * WCS in that HDU's header.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../errors.js';
import { checkHduOption, selectHdus, type HduSelection } from '../client/hdu-input.js';
import { extractHdu, isFits, mergeWcsIntoHdus } from '../fits/index.js';
import type { CliInput } from './expand-inputs.js';
import { maybeGunzip } from './gunzip.js';
import { writeFileAtomic } from './outputs.js';

/** Where an HDU input came from. */
export interface HduOrigin {
  /** The FITS file given. */
  path: string;
  /** Its output stem (`<stem>.solved.fits`). */
  stem: string;
  label: string;
  hdu: number;
}

export class HduInputs {
  /** HDU inputs by their input id. */
  readonly origins = new Map<string, HduOrigin>();
  #dir: string | null = null;

  /** The `--hdu` value, checked: a whole number from 0, or `all`. */
  static parse(raw: string): HduSelection {
    const t = raw.trim().toLowerCase();
    return checkHduOption(t === 'all' ? 'all' : /^\d+$/.test(t) ? Number(t) : raw);
  }

  /**
   * The inputs with each FITS file replaced by its selected HDUs. Anything else (an image that
   * is not FITS, a URL, a source list) is refused: it has no HDUs to choose from.
   */
  expand(inputs: readonly CliInput[], selection: HduSelection): CliInput[] {
    return inputs.flatMap((input): CliInput[] => {
      if (input.kind !== 'file') throw new ValidationError('hdu', selection, `HDUs of FITS files: ${input.label} is ${input.kind === 'url' ? 'a URL' : 'a source list'}`);
      const bytes = maybeGunzip(readFileSync(input.path));
      if (!isFits(bytes)) throw new ValidationError('hdu', selection, `HDUs of FITS files: ${input.label} is not one`);
      return selectHdus(bytes, selection, input.label).map((hdu) => {
        const path = join(this.#folder(), `${input.stem}.hdu${hdu}.fits`);
        writeFileSync(path, extractHdu(bytes, hdu), { mode: 0o600 });
        const id = `${input.id}[hdu ${hdu}]`;
        this.origins.set(id, { path: input.path, stem: input.stem, label: input.label, hdu });
        return { kind: 'file', label: `${input.label}[${hdu}]`, id, stem: `${input.stem}.hdu${hdu}`, path };
      });
    });
  }

  /**
   * `<out>/<stem>.solved.fits` for each FITS file given: a copy whose solved HDUs carry their own
   * WCS. `wcsOf` gives an HDU input's WCS file, or null when it did not solve. Returns the paths
   * written by input id, and warnings.
   */
  writeMerged(outDir: string, wcsOf: (id: string) => Uint8Array | null): { written: Map<string, string>; warnings: string[] } {
    const written = new Map<string, string>();
    const warnings: string[] = [];
    const byFile = new Map<string, [string, HduOrigin][]>();
    for (const [id, origin] of this.origins) byFile.set(origin.path, [...(byFile.get(origin.path) ?? []), [id, origin]]);
    for (const [path, parts] of byFile) {
      const wcs = new Map<number, Uint8Array>();
      for (const [id, origin] of parts) {
        const file = wcsOf(id);
        if (file) wcs.set(origin.hdu, maybeGunzip(file));
      }
      if (wcs.size === 0) continue;
      const stem = (parts[0] as [string, HduOrigin])[1].stem;
      try {
        const merged = mergeWcsIntoHdus(maybeGunzip(readFileSync(path)), wcs, (hdu) => `WCS of HDU ${hdu} solved by astrometry.net`);
        const out = join(outDir, `${stem}.solved.fits`);
        writeFileAtomic(out, merged);
        for (const [id, origin] of parts) if (wcs.has(origin.hdu)) written.set(id, out);
      } catch (error) {
        warnings.push(`Could not write ${stem}.solved.fits: ${(error as Error).message}`);
      }
    }
    return { written, warnings };
  }

  /** Removes the cut-out HDU files. */
  dispose(): void {
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = null;
  }

  #folder(): string {
    // mkdtemp makes it 0700: the cut-outs are the user's images.
    this.#dir ??= mkdtempSync(join(tmpdir(), 'astrometry-net-hdus-'));
    return this.#dir;
  }
}
