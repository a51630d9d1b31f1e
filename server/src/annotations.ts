/**
 * nova's `/api/jobs/<id>/annotations` (docs/nova-protocol.md#annotations) from Debian's
 * `plot-constellations -J`, run with no size cut (`-F 0`) so every NGC/IC object in the field
 * is there, as in nova. Named bright stars become `bright` entries with the catalogue's `vmag`
 * where it has one, NGC/IC objects `ngc`/`ic` ones. The order is nova's
 * (plotann.get_annotations_for_wcs): objects without a size (NGC, then IC), the bright stars,
 * then the objects with a size as circles (radius in pixels). `nbright=N` gives the N brightest
 * stars, brightest first, as nova sorts its catalogue by magnitude for it.
 */
import { readFile } from 'node:fs/promises';

export interface Annotation {
  type: 'bright' | 'ngc' | 'ic';
  names: string[];
  pixelx: number;
  pixely: number;
  radius: number;
  /** V magnitude, bright stars only, when the catalogue gives it. */
  vmag?: number;
}

interface PlotConstellationsItem {
  type?: string;
  names?: unknown;
  name?: unknown;
  pixelx?: unknown;
  pixely?: unknown;
  radius?: unknown;
}

/** `NGC 1976` → ['ngc', 1976]; for nova's catalogue order (NGC by number, then IC by number). */
function catalogueKey(a: Annotation): number {
  const n = Number(/^(?:NGC|IC) (\d+)/.exec(a.names[0] ?? '')?.[1] ?? Infinity);
  return (a.type === 'ic' ? 1e6 : 0) + n;
}

/**
 * Parses what `plot-constellations -J` prints (on stderr, possibly among other lines).
 * `magnitudes` maps a star's names to its V magnitude (see bright-stars.ts).
 */
export function annotationsFromPlotConstellations(text: string, magnitudes: ReadonlyMap<string, number> = new Map()): Annotation[] {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end < start) throw new Error('no JSON in plot-constellations output');
  const doc = JSON.parse(text.slice(start, end + 1)) as { annotations?: PlotConstellationsItem[] };
  const stars: Annotation[] = [];
  const points: Annotation[] = [];
  const circles: Annotation[] = [];
  for (const item of doc.annotations ?? []) {
    const names = Array.isArray(item.names) ? item.names.filter((n): n is string => typeof n === 'string') : typeof item.name === 'string' ? [item.name] : [];
    const x = Number(item.pixelx);
    const y = Number(item.pixely);
    if (!Number.isFinite(x) || !Number.isFinite(y) || names.length === 0) continue;
    if (item.type === 'star') {
      const vmag = names.map((n) => magnitudes.get(n)).find((m) => m !== undefined);
      stars.push({ type: 'bright', names, pixelx: x, pixely: y, radius: 0, ...(vmag !== undefined ? { vmag } : {}) });
    } else if (item.type === 'ngc') {
      const radius = Number(item.radius);
      const a: Annotation = { type: (names[0] ?? '').startsWith('IC ') ? 'ic' : 'ngc', names, pixelx: x, pixely: y, radius: Number.isFinite(radius) ? radius : 0 };
      (a.radius > 0 ? circles : points).push(a);
    }
  }
  const byCatalogue = (a: Annotation, b: Annotation) => catalogueKey(a) - catalogueKey(b);
  return [...points.sort(byCatalogue), ...stars, ...circles.sort(byCatalogue)];
}

/**
 * The stored annotations of a job; with `nbright` > 0, only the `nbright` brightest stars, in
 * order of magnitude (stars without one after those with, in catalogue order).
 */
export async function readAnnotations(path: string | null, nbright: number): Promise<Annotation[]> {
  if (path === null) return [];
  const all = JSON.parse(await readFile(path, 'utf8')) as Annotation[];
  if (nbright <= 0) return all;
  const stars = all.filter((a) => a.type === 'bright');
  const brightest = stars
    .map((a, i) => ({ a, i }))
    .sort((p, q) => (p.a.vmag ?? Infinity) - (q.a.vmag ?? Infinity) || p.i - q.i)
    .slice(0, nbright)
    .map((p) => p.a);
  // nova's list keeps its place for the stars: after the point objects, before the circles.
  const at = all.findIndex((a) => a.type === 'bright');
  const rest = all.filter((a) => a.type !== 'bright');
  const insert = at < 0 ? rest.length : all.slice(0, at).filter((a) => a.type !== 'bright').length;
  return [...rest.slice(0, insert), ...brightest, ...rest.slice(insert)];
}
