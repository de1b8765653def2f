/**
 * Detaching an `ArrayBuffer` with `ArrayBuffer.prototype.transfer`, for the
 * backends whose runtime has it.
 *
 * @module
 */

/**
 * Detaches `buf` (every view of it becomes length 0) by transferring it to a
 * new zero-length buffer. Returns false where the runtime has no `transfer()`
 * or refuses (then the caller must keep the memory safe some other way).
 *
 * @param buf The buffer to detach.
 */
export function detachByTransfer(buf: ArrayBuffer): boolean {
  const t = (buf as unknown as { transfer?: (n: number) => ArrayBuffer }).transfer;
  if (typeof t !== "function") return false;
  try {
    t.call(buf, 0);
  } catch {
    return false;
  }
  return buf.byteLength === 0;
}
