import type { Wcs } from 'astrometry-net-client/wcs';

/** A "nice" grid step in degrees for a field this wide. */
function step(span: number): number {
  for (const s of [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30]) if (span / s <= 8) return s;
  return 45;
}

/**
 * Lines of constant RA and Dec over the image, from the WCS alone. FITS pixel (x, y) of a PNG or
 * JPEG solve has y = 1 at the top row, so it is drawn at (x - 0.5, y - 0.5) from the top left;
 * a FITS image shown with row 1 at the bottom (`fitsRows`) puts it at (x - 0.5, H + 0.5 - y).
 */
export function SkyGrid({ wcs, src, fitsRows }: { wcs: Wcs; src: string; fitsRows: boolean }) {
  const w = wcs.imageWidth;
  const h = wcs.imageHeight;
  const corners = wcs.corners;
  const decs = corners.map((c) => c.dec);
  // RA spans measured around the centre, so a field across RA 0 is not 360 degrees wide.
  const ras = corners.map((c) => ((c.ra - wcs.center.ra + 540) % 360) - 180);
  const margin = 0.2 * (Math.max(...decs) - Math.min(...decs));
  const decStep = step(Math.max(...decs) - Math.min(...decs));
  const raStep = step(Math.max(...ras) - Math.min(...ras));
  const lines: { d: string; label: string }[] = [];
  const path = (points: { ra: number; dec: number }[]) =>
    points
      .map((p) => wcs.skyToPixel(p.ra, p.dec))
      .filter((p): p is { x: number; y: number } => p !== null)
      .map((p, i) => `${i ? 'L' : 'M'}${(p.x - 0.5).toFixed(1)},${(fitsRows ? h + 0.5 - p.y : p.y - 0.5).toFixed(1)}`)
      .join(' ');
  const dec0 = Math.min(...decs) - margin;
  const dec1 = Math.max(...decs) + margin;
  const ra0 = Math.min(...ras) - 0.2 * (Math.max(...ras) - Math.min(...ras));
  const ra1 = Math.max(...ras) + 0.2 * (Math.max(...ras) - Math.min(...ras));
  const samples = (a: number, b: number) => Array.from({ length: 41 }, (_, i) => a + ((b - a) * i) / 40);
  for (let dec = Math.ceil(dec0 / decStep) * decStep; dec <= dec1; dec += decStep) {
    lines.push({ d: path(samples(ra0, ra1).map((r) => ({ ra: wcs.center.ra + r, dec }))), label: `Dec ${dec.toFixed(2)}°` });
  }
  const raStart = Math.ceil((wcs.center.ra + ra0) / raStep) * raStep;
  for (let ra = raStart; ra <= wcs.center.ra + ra1; ra += raStep) {
    lines.push({ d: path(samples(dec0, dec1).map((dec) => ({ ra, dec }))), label: `RA ${(((ra % 360) + 360) % 360).toFixed(2)}°` });
  }
  return (
    <svg viewBox={`0 0 ${w} ${h}`} data-testid="grid" style={{ width: '100%', marginTop: '1rem' }}>
      <image href={src} width={w} height={h} />
      {lines.map((l) => (
        <path key={l.label} d={l.d} fill="none" stroke="#4fc3f7" strokeWidth={Math.max(1, w / 600)} opacity={0.8}>
          <title>{l.label}</title>
        </path>
      ))}
    </svg>
  );
}
