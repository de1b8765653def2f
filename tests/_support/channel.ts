/**
 * Messages the channel tests and their fixtures agree on without sending
 * them twice: message `i` has a length that walks through every size from 0
 * to `max` in a scrambled order, and bytes that depend on `i` and the offset.
 *
 * @module
 */

/** Message number `i` of a stream whose messages are at most `max` bytes. */
export function messageAt(i: number, max: number): Uint8Array {
  const length = i % 17 === 0 ? max : (i * 7919) % (max + 1);
  const m = new Uint8Array(length);
  for (let j = 0; j < length; j++) m[j] = (i * 31 + j * 7 + (j >>> 8)) & 0xff;
  return m;
}

/** Whether two byte arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
