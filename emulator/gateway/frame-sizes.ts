/**
 * API Gateway takes client messages up to 128 KB, but each WebSocket frame of one at most 32 KB: a
 * bigger single frame closes the connection with 1009 even when the message would fit. The `ws`
 * library only limits whole messages, so this reads the frame headers of the client's byte stream
 * (RFC 6455 §5.2) alongside it, and reports the first frame over the limit.
 */

/** Largest frame header: 2 bytes, an 8-byte extended length and a 4-byte masking key. */
const MAX_HEADER_BYTES = 14;

/**
 * Returns a listener for the socket's `data` events (attach it before the `ws` library's) that calls
 * `onTooBig` once, with the frame's payload length, when a frame's payload is over `limitBytes`.
 */
export function watchFrameSizes(
  limitBytes: number,
  onTooBig: (payloadBytes: number) => void,
): (chunk: Buffer) => void {
  const header = Buffer.alloc(MAX_HEADER_BYTES);
  let headerBytes = 0;
  /** Payload bytes of the current frame not seen yet. */
  let payloadLeft = 0;
  let reported = false;
  return (chunk) => {
    let offset = 0;
    while (!reported && offset < chunk.length) {
      if (payloadLeft > 0) {
        const skipped = Math.min(payloadLeft, chunk.length - offset);
        payloadLeft -= skipped;
        offset += skipped;
        continue;
      }
      header[headerBytes++] = chunk[offset++] as number;
      const payloadBytes = payloadLengthOf(header, headerBytes);
      if (payloadBytes === undefined) continue;
      headerBytes = 0;
      if (payloadBytes > limitBytes) {
        reported = true;
        onTooBig(payloadBytes);
      } else payloadLeft = payloadBytes;
    }
  };
}

/** The payload length once the header's first `bytes` bytes hold all of it; undefined before. */
function payloadLengthOf(header: Buffer, bytes: number): number | undefined {
  if (bytes < 2) return undefined;
  const second = header[1] as number;
  const masked = (second & 0x80) !== 0;
  const length7 = second & 0x7f;
  const extended = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
  if (bytes < 2 + extended + (masked ? 4 : 0)) return undefined;
  if (extended === 2) return header.readUInt16BE(2);
  if (extended === 8) return Number(header.readBigUInt64BE(2));
  return length7;
}
