import { decodeImage } from 'astrometry-net-client/extract';

/**
 * Something an <image> can show: the file itself for PNG/JPEG, or for FITS its pixels stretched
 * (1st to 99.5th percentile) onto a canvas, rows flipped so that FITS row 1 is at the bottom.
 */
export async function pictureOf(file: File): Promise<{ url: string; fitsRows: boolean }> {
  if (!/\.(fits?|fts)(\.gz)?$/i.test(file.name)) return { url: URL.createObjectURL(file), fitsRows: false };
  const image = await decodeImage(new Uint8Array(await file.arrayBuffer()));
  const sorted = Float32Array.from(image.data).filter(Number.isFinite).sort();
  const lo = sorted[Math.floor(sorted.length * 0.01)] ?? 0;
  const hi = sorted[Math.floor(sorted.length * 0.995)] ?? 1;
  const canvas = new OffscreenCanvas(image.width, image.height);
  const context = canvas.getContext('2d')!;
  const pixels = context.createImageData(image.width, image.height);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const v = image.data[(image.height - 1 - y) * image.width + x] ?? 0;
      const g = Math.max(0, Math.min(255, Math.round((255 * (v - lo)) / (hi - lo || 1))));
      pixels.data.set([g, g, g, 255], (y * image.width + x) * 4);
    }
  }
  context.putImageData(pixels, 0, 0);
  return { url: URL.createObjectURL(await canvas.convertToBlob()), fitsRows: true };
}
