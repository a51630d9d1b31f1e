/**
 * The JPEG marker walk that local extraction (decodeImage) and the server (its probe in memory,
 * its pixel budget from a file read piece by piece) share: what it steps over, where it stops,
 * and that a stream is only read at marker heads.
 */
import { describe, expect, test } from 'vitest';
import { jpegFrame, jpegFrameWalk, JPEG_MARKER_HEAD } from '../src/extract/jpeg-frame.js';

const SOI = [0xff, 0xd8];
/** SOF`n` declaring width × height, with one component. */
const sof = (width: number, height: number, n = 0xc0) => [0xff, n, 0x00, 0x0b, 0x08, height >> 8, height & 0xff, width >> 8, width & 0xff, 0x01, 0x01, 0x11, 0x00];
/** A segment of `bodyLength` zero bytes. */
const segment = (marker: number, bodyLength: number) => [0xff, marker, (bodyLength + 2) >> 8, (bodyLength + 2) & 0xff, ...new Array<number>(bodyLength).fill(0)];
const EOI = [0xff, 0xd9];
const bytes = (...parts: number[][]) => Uint8Array.from(parts.flat());

describe('jpegFrame (bytes in memory)', () => {
  test('steps over segments, fill bytes and standalone markers to the first frame header', () => {
    const jpeg = bytes(SOI, segment(0xe0, 14), [0xff, 0xff], segment(0xdb, 65), [0xff, 0xd0, 0xff, 0x01], sof(640, 480, 0xc2), EOI);
    expect(jpegFrame(jpeg)).toEqual({ width: 640, height: 480 });
  });

  test('DHT (C4), JPG (C8) and DAC (CC) are segments, not frame headers', () => {
    const jpeg = bytes(SOI, segment(0xc4, 20), segment(0xc8, 4), segment(0xcc, 4), sof(3, 2, 0xcf), EOI);
    expect(jpegFrame(jpeg)).toEqual({ width: 3, height: 2 });
  });

  test('a frame header declaring 0 pixels is returned as written (the caller judges it)', () => {
    expect(jpegFrame(bytes(SOI, sof(0, 480), EOI))).toEqual({ width: 0, height: 480 });
  });

  test('no frame: a non-marker byte, a segment length under 2, a segment running past the end, a file that ends first', () => {
    expect(jpegFrame(bytes(SOI, [0x00], sof(640, 480), EOI))).toBeNull();
    expect(jpegFrame(bytes(SOI, [0xff, 0xe0, 0x00, 0x01], sof(640, 480), EOI))).toBeNull();
    expect(jpegFrame(bytes(SOI, [0xff, 0xe0, 0x40, 0x00], sof(640, 480), EOI))).toBeNull();
    expect(jpegFrame(bytes(SOI, segment(0xe0, 16)))).toBeNull();
  });

  test('a head is read only where ten bytes remain', () => {
    const cut = bytes(SOI, sof(640, 480)).subarray(0, 2 + JPEG_MARKER_HEAD);
    expect(jpegFrame(cut)).toBeNull();
    expect(jpegFrame(bytes(SOI, sof(640, 480)).subarray(0, 2 + JPEG_MARKER_HEAD + 1))).toEqual({ width: 640, height: 480 });
  });
});

describe('jpegFrameWalk (a file read piece by piece)', () => {
  /** Drives the walk over `file`, recording each offset it asks for. */
  function walk(file: Uint8Array, limit: number): { frame: ReturnType<typeof jpegFrame>; reads: number[] } {
    const reads: number[] = [];
    const w = jpegFrameWalk(limit);
    let step = w.next();
    while (!step.done) {
      reads.push(step.value);
      step = w.next(file.subarray(step.value, step.value + JPEG_MARKER_HEAD));
    }
    return { frame: step.value, reads };
  }

  test('reads only marker heads, so a 64 KiB APP segment costs one read', () => {
    const file = bytes(SOI, segment(0xe1, 65_533), sof(30_000, 12_000), EOI);
    expect(walk(file, 1 << 26)).toEqual({ frame: { width: 30_000, height: 12_000 }, reads: [2, 2 + 65_537] });
  });

  test('a frame header cut short is none, a head at the very end is still read, and nothing at or past the limit is', () => {
    const file = bytes(SOI, segment(0xe0, 4), sof(640, 480));
    expect(walk(file.subarray(0, file.length - 5), 1 << 26).frame).toBeNull();
    expect(walk(file.subarray(0, 10 + JPEG_MARKER_HEAD), 1 << 26).frame).toEqual({ width: 640, height: 480 });
    expect(walk(file, 10)).toEqual({ frame: null, reads: [2] });
  });
});
