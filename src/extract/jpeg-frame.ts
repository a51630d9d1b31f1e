/**
 * A JPEG's frame header (SOF), found by walking its markers without decoding anything: the size
 * the image declares. Local extraction checks it against the pixel budget before decoding, and
 * the server (astrometry-net-server) reads it from uploads, in memory or from a file piece by
 * piece, which is why the walk is written once, apart from where its bytes come from.
 */

/** What a JPEG's frame header declares, as written (either may be 0: the caller judges). */
export interface JpegFrame {
  width: number;
  height: number;
}

/** Bytes of a marker head the walk reads: FF, marker, segment length, and a SOF's precision, height and width. */
export const JPEG_MARKER_HEAD = 9;

/**
 * Walks a JPEG's markers from just after its SOI (offset 2) to its first frame header, SOF0 to
 * SOF15 but DHT (C4), JPG (C8) and DAC (CC), stepping over every other segment by its length.
 * It yields the offset of each marker head it needs and is handed back the bytes there (up to
 * JPEG_MARKER_HEAD; fewer where the file ends), so bytes in memory and a file read as a stream
 * share it. Heads are read at offsets below `limit` only. It returns null at anything that is no
 * marker, a head cut short, or a segment length under 2, and the frame's size otherwise.
 */
export function* jpegFrameWalk(limit: number): Generator<number, JpegFrame | null, Uint8Array> {
  for (let at = 2; at < limit; ) {
    const head: Uint8Array = yield at;
    if (head.length < 2 || head[0] !== 0xff) return null;
    const marker = head[1] as number;
    if (marker === 0xff) {
      // A fill byte before a marker.
      at++;
      continue;
    }
    // SOI, TEM and RST0-RST7 stand alone: no length follows.
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    if (head.length < 4) return null;
    const length = ((head[2] as number) << 8) | (head[3] as number);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (head.length < 9) return null;
      return { height: ((head[5] as number) << 8) | (head[6] as number), width: ((head[7] as number) << 8) | (head[8] as number) };
    }
    // The length counts its own two bytes: under 2 it would not move the walk forward.
    if (length < 2) return null;
    at += 2 + length;
  }
  return null;
}

/**
 * The frame header of a JPEG held in memory, or null. A marker head is read only where ten
 * bytes remain (the bound decodeImage and the server's probe have always used), so a file cut
 * right after its frame header's width is not taken.
 */
export function jpegFrame(bytes: Uint8Array): JpegFrame | null {
  const walk = jpegFrameWalk(bytes.length - JPEG_MARKER_HEAD);
  let step = walk.next();
  while (!step.done) step = walk.next(bytes.subarray(step.value, step.value + JPEG_MARKER_HEAD));
  return step.value;
}
