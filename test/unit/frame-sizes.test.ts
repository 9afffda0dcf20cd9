import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { watchFrameSizes } from '../../emulator/gateway/frame-sizes.ts';

/** A masked client frame (RFC 6455 §5.2) with a payload of `length` bytes. */
function frame(length: number, fin = true): Buffer {
  const first = (fin ? 0x80 : 0) | 0x01;
  const lengthBytes =
    length < 126
      ? Buffer.from([0x80 | length])
      : length <= 0xffff
        ? Buffer.from([0x80 | 126, length >> 8, length & 0xff])
        : Buffer.concat([Buffer.from([0x80 | 127]), bigEndian64(length)]);
  return Buffer.concat([
    Buffer.from([first]),
    lengthBytes,
    Buffer.from([1, 2, 3, 4]),
    Buffer.alloc(length, 0x61),
  ]);
}

function bigEndian64(n: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(n));
  return bytes;
}

function watch(limit: number, stream: Buffer, chunkBytes: number): number[] {
  const reports: number[] = [];
  const listener = watchFrameSizes(limit, (bytes) => reports.push(bytes));
  for (let offset = 0; offset < stream.length; offset += chunkBytes)
    listener(stream.subarray(offset, offset + chunkBytes));
  return reports;
}

describe('the gateway’s frame size watch', () => {
  it('lets frames up to the limit pass, however the bytes are chunked', () => {
    const stream = Buffer.concat([frame(5), frame(200), frame(32_768), frame(0)]);
    for (const chunkBytes of [1, 3, 7, 1000, stream.length])
      assert.deepEqual(watch(32_768, stream, chunkBytes), [], `chunks of ${chunkBytes}`);
  });

  it('reports the first frame over the limit once, with its payload length', () => {
    const stream = Buffer.concat([frame(100), frame(32_769), frame(70_000)]);
    for (const chunkBytes of [1, 5, 4096, stream.length])
      assert.deepEqual(watch(32_768, stream, chunkBytes), [32_769], `chunks of ${chunkBytes}`);
  });

  it('reads 16-bit and 64-bit extended lengths', () => {
    assert.deepEqual(watch(1000, frame(1001), 64), [1001]);
    assert.deepEqual(watch(65_535, frame(70_000), 64), [70_000]);
  });

  it('takes a message fragmented into frames under the limit', () => {
    const stream = Buffer.concat([frame(32_768, false), frame(32_768, false), frame(10, true)]);
    assert.deepEqual(watch(32_768, stream, 512), []);
  });
});
