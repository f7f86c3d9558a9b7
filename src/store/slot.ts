import { hashTagOf } from './keys.js';

/** Redis Cluster's hash slots: CRC16 (XMODEM) of a key's hash tag, modulo 16384. */
export const SLOTS = 16384;

const table = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  table[i] = crc;
}

/** The slot Redis Cluster keeps `key` in (what `CLUSTER KEYSLOT` answers). */
export function slotOf(key: string): number {
  const tag = hashTagOf(key);
  let crc = 0;
  for (let i = 0; i < tag.length; i++) {
    const code = tag.charCodeAt(i);
    // Redis hashes the UTF-8 bytes: a key beyond ASCII takes the slow path
    if (code > 0x7f) return crc16(Buffer.from(tag, 'utf8'));
    crc = ((crc << 8) ^ (table[((crc >> 8) ^ code) & 0xff] as number)) & 0xffff;
  }
  return crc % SLOTS;
}

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) ^ (table[((crc >> 8) ^ byte) & 0xff] as number)) & 0xffff;
  return crc % SLOTS;
}

/**
 * `n` hash tags that spread over the masters of a Cluster as evenly as its slots do: tag k hashes
 * into the middle half of the k-th of `n` equal slot ranges, `base:<n>:<j>` with the first numbers j
 * that fill each range. `redis-cli --cluster create` gives M masters M equal slot ranges, so when M
 * divides `n` each master holds `n / M` tags (the quarter-range margin absorbs its rounding), and
 * `n` = M puts one on each. One tag is `base` itself.
 */
export function spreadTags(base: string, n: number): string[] {
  if (n === 1) return [base];
  const tags: Array<string | undefined> = new Array(n).fill(undefined);
  for (let j = 0, found = 0; found < n; j++) {
    const tag = `${base}:${n}:${j}`;
    const position = (slotOf(`{${tag}}`) * n) / SLOTS; // which of the n ranges, and where in it
    const range = Math.floor(position);
    const within = position - range;
    if (tags[range] === undefined && within >= 0.25 && within < 0.75) {
      tags[range] = tag;
      found++;
    }
  }
  return tags as string[];
}
