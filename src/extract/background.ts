/**
 * Sky background, estimated on a mesh as SExtractor does: in each cell a median clipped at
 * 3 sigma (sigma from the MAD), the mesh then median-filtered 3 x 3 so that cells covered by a
 * bright star take their neighbours' sky, and the sky interpolated bilinearly between cell
 * centres. The noise comes from pixel differences instead (differenceSigma), which a sky
 * quantised to a few levels does not fool.
 */

export interface Background {
  /** Sky level per mesh cell, row after row. */
  sky: Float32Array;
  cell: number;
  cols: number;
  rows: number;
}

const MAX_SAMPLES = 1024;

/** Median and sigma of the sorted `v[lo, hi)`, clipped at 3 sigma until stable (at most 5 passes). */
function clippedStats(v: Float32Array, count: number): [number, number] {
  let lo = 0;
  let hi = count;
  let median = 0;
  let sigma = 0;
  for (let pass = 0; pass < 5 && hi > lo; pass++) {
    const n = hi - lo;
    median = n % 2 ? (v[lo + (n >> 1)] as number) : ((v[lo + (n >> 1) - 1] as number) + (v[lo + (n >> 1)] as number)) / 2;
    // MAD from the sorted values: the deviations below and above the median merge like two sorted lists.
    let i = lo + (n >> 1) - 1;
    let j = lo + (n >> 1);
    let mad = 0;
    for (let k = 0; k <= n >> 1; k++) {
      const below = i >= lo ? median - (v[i] as number) : Infinity;
      const above = j < hi ? (v[j] as number) - median : Infinity;
      if (below < above) {
        mad = below;
        i--;
      } else {
        mad = above;
        j++;
      }
    }
    sigma = 1.4826 * mad;
    const low = median - 3 * sigma;
    const high = median + 3 * sigma;
    let nlo = lo;
    let nhi = hi;
    while (nlo < nhi && (v[nlo] as number) < low) nlo++;
    while (nhi > nlo && (v[nhi - 1] as number) > high) nhi--;
    if (nlo === lo && nhi === hi) break;
    lo = nlo;
    hi = nhi;
  }
  return [median, sigma];
}

function median(values: number[]): number {
  values.sort((a, b) => a - b);
  return values[values.length >> 1] as number;
}

export function estimateBackground(data: Float32Array, width: number, height: number, cell = 64): Background {
  const size = Math.max(8, Math.min(cell, Math.floor(Math.min(width, height) / 2)));
  const cols = Math.max(1, Math.round(width / size));
  const rows = Math.max(1, Math.round(height / size));
  const raw = new Float32Array(cols * rows);
  const samples = new Float32Array(MAX_SAMPLES * 2);
  for (let r = 0; r < rows; r++) {
    const y0 = Math.floor((r * height) / rows);
    const y1 = Math.floor(((r + 1) * height) / rows);
    for (let c = 0; c < cols; c++) {
      const x0 = Math.floor((c * width) / cols);
      const x1 = Math.floor(((c + 1) * width) / cols);
      const area = (x1 - x0) * (y1 - y0);
      const step = Math.max(1, Math.floor(Math.sqrt(area / MAX_SAMPLES)));
      let n = 0;
      for (let y = y0; y < y1; y += step) {
        for (let x = x0; x < x1 && n < samples.length; x += step) {
          const v = data[y * width + x] as number;
          if (v === v) samples[n++] = v;
        }
      }
      const sorted = samples.subarray(0, n).sort();
      raw[r * cols + c] = n > 0 ? clippedStats(sorted, n)[0] : 0;
    }
  }
  const sky = new Float32Array(cols * rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const around: number[] = [];
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = r + dr;
          const cc = c + dc;
          if (rr >= 0 && rr < rows && cc >= 0 && cc < cols) around.push(raw[rr * cols + cc] as number);
        }
      }
      sky[r * cols + c] = median(around);
    }
  }
  return { sky, cell: size, cols, rows };
}

/** Subtracts the interpolated sky from `data` in place; NaN pixels become 0 (sky). */
export function subtractBackground(data: Float32Array, width: number, height: number, bg: Background): void {
  const { sky, cols, rows } = bg;
  const cw = width / cols;
  const ch = height / rows;
  const rowSky = new Float32Array(width);
  const xi = new Int32Array(width);
  const xf = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const gx = Math.min(cols - 1, Math.max(0, (x + 0.5) / cw - 0.5));
    xi[x] = Math.min(cols - 2, Math.floor(gx));
    xf[x] = gx - Math.max(0, xi[x] as number);
    if (cols === 1) {
      xi[x] = 0;
      xf[x] = 0;
    }
  }
  for (let y = 0; y < height; y++) {
    const gy = Math.min(rows - 1, Math.max(0, (y + 0.5) / ch - 0.5));
    const r0 = rows === 1 ? 0 : Math.min(rows - 2, Math.floor(gy));
    const fy = rows === 1 ? 0 : gy - r0;
    const r1 = rows === 1 ? 0 : r0 + 1;
    for (let x = 0; x < width; x++) {
      const c0 = xi[x] as number;
      const c1 = cols === 1 ? 0 : c0 + 1;
      const fx = xf[x] as number;
      const top = (sky[r0 * cols + c0] as number) * (1 - fx) + (sky[r0 * cols + c1] as number) * fx;
      const bottom = (sky[r1 * cols + c0] as number) * (1 - fx) + (sky[r1 * cols + c1] as number) * fx;
      rowSky[x] = top * (1 - fy) + bottom * fy;
    }
    const base = y * width;
    for (let x = 0; x < width; x++) {
      const v = data[base + x] as number;
      data[base + x] = v === v ? v - (rowSky[x] as number) : 0;
    }
  }
}

/** Standard-normal quantiles at (1 + q) / 2 for q = 0.7, 0.8, 0.9. */
const HALF_NORMAL: [number, number][] = [[0.7, 1.0364334], [0.8, 1.2815516], [0.9, 1.6448536]];

/**
 * Pixel noise from differences of pixels 5 apart (sky gradients and stars barely touch them),
 * as simplexy's `dsigma`: a quantile of |difference| taken as that of a normal of sigma * sqrt 2,
 * trying higher quantiles while the lower give 0 (images without noise). 0 when all give 0.
 */
export function differenceSigma(data: Float32Array, width: number, height: number): number {
  const step = Math.max(1, Math.floor(Math.sqrt((width * height) / 20000)));
  const diffs: number[] = [];
  for (let y = 0; y < height; y += step) {
    for (let x = 0; x + 5 < width; x += step) {
      const d = (data[y * width + x] as number) - (data[y * width + x + 5] as number);
      if (d === d) diffs.push(Math.abs(d));
    }
  }
  if (diffs.length === 0) return 0;
  const sorted = Float64Array.from(diffs).sort();
  for (const [q, z] of HALF_NORMAL) {
    const a = sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
    if (a > 0) return a / (Math.SQRT2 * z);
  }
  return 0;
}
