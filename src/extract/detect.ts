/**
 * Detection on a background-subtracted image: smoothing with a Gaussian the size of a star,
 * local maxima above a threshold in noise units, merging of maxima that no significant dip
 * separates (one star's plateau or noisy wings) while keeping close pairs that a dip does
 * separate, and centroids to a fraction of a pixel.
 */

export interface DetectOptions {
  /** Gaussian sigma of the smoothing kernel, pixels (about a star's PSF). */
  psfSigma: number;
  /** Detection threshold, in units of the smoothed image's noise. */
  threshold: number;
  /** Noise of one pixel of the image (before smoothing). */
  sigma: number;
  /** How far (in smoothed-noise units) the image must dip between two maxima for both to count. */
  saddle?: number;
}

export interface Detection {
  /** 0-based pixel position of the centroid. */
  x: number;
  y: number;
  /** Background-subtracted sum in a circular aperture. */
  flux: number;
}

function gaussianKernel(sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] = (k[i] as number) / sum;
  return k;
}

/** Separable convolution; edges reflect the nearest pixel. */
export function smooth(data: Float32Array, width: number, height: number, sigma: number): { image: Float32Array; noiseFactor: number } {
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const tmp = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const base = y * width;
    for (let x = 0; x < width; x++) {
      let s = 0;
      if (x >= r && x < width - r) {
        for (let i = -r; i <= r; i++) s += (k[i + r] as number) * (data[base + x + i] as number);
      } else {
        for (let i = -r; i <= r; i++) s += (k[i + r] as number) * (data[base + Math.min(width - 1, Math.max(0, x + i))] as number);
      }
      tmp[base + x] = s;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const inside = y >= r && y < height - r;
    for (let i = -r; i <= r; i++) {
      const w = k[i + r] as number;
      const src = (inside ? y + i : Math.min(height - 1, Math.max(0, y + i))) * width;
      const dst = y * width;
      for (let x = 0; x < width; x++) out[dst + x] = (out[dst + x] as number) + w * (tmp[src + x] as number);
    }
  }
  // White noise of sigma s becomes s * sqrt(sum of the 2-D kernel squared) = s * sum(k^2).
  let k2 = 0;
  for (const v of k) k2 += v * v;
  return { image: out, noiseFactor: k2 };
}

interface Peak {
  index: number;
  value: number;
}

/** Lowest smoothed value on the segment between two pixels (sampled each half pixel). */
function dip(s: Float32Array, width: number, a: number, b: number): number {
  const ax = a % width;
  const ay = (a - ax) / width;
  const bx = b % width;
  const by = (b - bx) / width;
  const steps = Math.max(1, Math.ceil(2 * Math.hypot(bx - ax, by - ay)));
  let low = Infinity;
  for (let i = 0; i <= steps; i++) {
    const x = Math.round(ax + ((bx - ax) * i) / steps);
    const y = Math.round(ay + ((by - ay) * i) / steps);
    low = Math.min(low, s[y * width + x] as number);
  }
  return low;
}

/** Sub-pixel offset of a maximum from three samples (a parabola through them), within ±0.5. */
function parabola(l: number, c: number, r: number): number {
  const d = l - 2 * c + r;
  if (!(d < 0)) return 0;
  const o = (0.5 * (l - r)) / d;
  return Math.max(-0.5, Math.min(0.5, o));
}

export function detect(data: Float32Array, width: number, height: number, options: DetectOptions): Detection[] {
  const { image: s, noiseFactor } = smooth(data, width, height, options.psfSigma);
  const noise = options.sigma * noiseFactor;
  const limit = options.threshold * noise;
  const peaks: Peak[] = [];
  // Off the image counts as lower, so stars cut by the border are found too.
  const at = (x: number, y: number): number => (x < 0 || y < 0 || x >= width || y >= height ? -Infinity : (s[y * width + x] as number));
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const edgeRow = y === 0 || y === height - 1;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      const v = s[i] as number;
      if (v <= limit) continue;
      if (edgeRow || x === 0 || x === width - 1) {
        if (v <= at(x - 1, y) || v <= at(x - 1, y - 1) || v <= at(x, y - 1) || v <= at(x + 1, y - 1)) continue;
        if (v < at(x + 1, y) || v < at(x - 1, y + 1) || v < at(x, y + 1) || v < at(x + 1, y + 1)) continue;
        peaks.push({ index: i, value: v });
        continue;
      }
      // Strictly above the neighbours already scanned, at least the ones after: a flat top yields one maximum.
      if (v <= (s[i - 1] as number) || v <= (s[i - width - 1] as number) || v <= (s[i - width] as number) || v <= (s[i - width + 1] as number)) continue;
      if (v < (s[i + 1] as number) || v < (s[i + width - 1] as number) || v < (s[i + width] as number) || v < (s[i + width + 1] as number)) continue;
      peaks.push({ index: i, value: v });
    }
  }
  peaks.sort((a, b) => b.value - a.value);

  // A fainter maximum is its own star only if the smoothed image dips well below it on the way
  // to every brighter maximum near it; else it is part of that star.
  const reach = Math.max(4, Math.ceil(6 * options.psfSigma));
  const cell = reach;
  const gridW = Math.ceil(width / cell);
  const grid = new Map<number, number[]>();
  const kept: Peak[] = [];
  const margin = (options.saddle ?? 5) * noise;
  for (const p of peaks) {
    const px = p.index % width;
    const py = (p.index - px) / width;
    const gx = Math.floor(px / cell);
    const gy = Math.floor(py / cell);
    let merged = false;
    for (let dy = -1; dy <= 1 && !merged; dy++) {
      for (let dx = -1; dx <= 1 && !merged; dx++) {
        for (const q of grid.get((gy + dy) * gridW + gx + dx) ?? []) {
          const qx = q % width;
          const qy = (q - qx) / width;
          if ((qx - px) ** 2 + (qy - py) ** 2 > reach * reach) continue;
          if (dip(s, width, p.index, q) >= p.value - margin) {
            merged = true;
            break;
          }
        }
      }
    }
    if (merged) continue;
    kept.push(p);
    const key = gy * gridW + gx;
    const list = grid.get(key);
    if (list) list.push(p.index);
    else grid.set(key, [p.index]);
  }

  const aperture = Math.max(2, Math.ceil(2.5 * options.psfSigma));
  return kept.map((p) => {
    const i = p.index;
    const px = i % width;
    const py = (i - px) / width;
    // A star cut by the border peaks on it; like image2xy, place it from the pixels one step in.
    const cx = Math.min(width - 2, Math.max(1, px));
    const cy = Math.min(height - 2, Math.max(1, py));
    const c = cy * width + cx;
    const x = width < 3 ? px : cx + parabola(s[c - 1] as number, s[c] as number, s[c + 1] as number);
    const y = height < 3 ? py : cy + parabola(s[c - width] as number, s[c] as number, s[c + width] as number);
    let flux = 0;
    for (let dy = -aperture; dy <= aperture; dy++) {
      const yy = py + dy;
      if (yy < 0 || yy >= height) continue;
      for (let dx = -aperture; dx <= aperture; dx++) {
        const xx = px + dx;
        if (xx < 0 || xx >= width || dx * dx + dy * dy > aperture * aperture) continue;
        flux += data[yy * width + xx] as number;
      }
    }
    return { x, y, flux };
  });
}
