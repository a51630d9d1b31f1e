/**
 * nova's `/api/jobs/<id>/annotations` (docs/nova-protocol.md#annotations) from Debian's `plot-constellations -J`:
 * named bright stars become `bright` entries, NGC/IC objects `ngc`/`ic` ones, points first and
 * circles (radius in pixels) after, as plotann.get_annotations_for_wcs orders them. The
 * catalogue's visual magnitudes are not in that output, so `vmag` is absent; `nbright=N` keeps
 * the N stars plot-constellations itself ranks brightest (its `-b N`).
 */
import { readFile } from 'node:fs/promises';

export interface Annotation {
  type: 'bright' | 'ngc' | 'ic';
  names: string[];
  pixelx: number;
  pixely: number;
  radius: number;
}

interface PlotConstellationsItem {
  type?: string;
  names?: unknown;
  name?: unknown;
  pixelx?: unknown;
  pixely?: unknown;
  radius?: unknown;
}

/** Parses what `plot-constellations -J` prints (on stderr, possibly among other lines). */
export function annotationsFromPlotConstellations(text: string): Annotation[] {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end < start) throw new Error('no JSON in plot-constellations output');
  const doc = JSON.parse(text.slice(start, end + 1)) as { annotations?: PlotConstellationsItem[] };
  const points: Annotation[] = [];
  const circles: Annotation[] = [];
  for (const item of doc.annotations ?? []) {
    const names = Array.isArray(item.names) ? item.names.filter((n): n is string => typeof n === 'string') : typeof item.name === 'string' ? [item.name] : [];
    const x = Number(item.pixelx);
    const y = Number(item.pixely);
    if (!Number.isFinite(x) || !Number.isFinite(y) || names.length === 0) continue;
    if (item.type === 'star') {
      points.push({ type: 'bright', names, pixelx: x, pixely: y, radius: 0 });
    } else if (item.type === 'ngc') {
      const radius = Number(item.radius);
      const a: Annotation = { type: (names[0] ?? '').startsWith('IC ') ? 'ic' : 'ngc', names, pixelx: x, pixely: y, radius: Number.isFinite(radius) ? radius : 0 };
      (a.radius > 0 ? circles : points).push(a);
    }
  }
  return [...points, ...circles];
}

/** The stored annotations of a job, with at most `nbright` bright stars when given (0: all). */
export async function readAnnotations(path: string | null, nbright: number): Promise<Annotation[]> {
  if (path === null) return [];
  const all = JSON.parse(await readFile(path, 'utf8')) as Annotation[];
  if (nbright <= 0) return all;
  let kept = 0;
  return all.filter((a) => a.type !== 'bright' || ++kept <= nbright);
}
