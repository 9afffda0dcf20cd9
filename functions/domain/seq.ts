import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford base32: sorts like the numbers it encodes

/**
 * A ULID: 10 characters of millisecond time then 16 random ones, so ids sort in time order.
 * Used as the per-user `seq` cursor of stored messages.
 */
export function newSeq(timeMs: number = Date.now()): string {
  let time = '';
  let rest = Math.floor(timeMs);
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[rest % 32] + time;
    rest = Math.floor(rest / 32);
  }
  const bytes = randomBytes(16);
  let random = '';
  for (const byte of bytes) random += ALPHABET[byte % 32];
  return time + random;
}

/** The millisecond time encoded in a seq, or undefined when it is not one. */
export function seqTime(seq: string): number | undefined {
  if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(seq)) return undefined;
  let time = 0;
  for (const char of seq.slice(0, 10)) time = time * 32 + ALPHABET.indexOf(char);
  return time;
}

/** The smallest seq at a given time: every seq made at or after `timeMs` sorts after it. */
export function seqFloor(timeMs: number): string {
  return newSeq(timeMs).slice(0, 10) + '0'.repeat(16);
}
