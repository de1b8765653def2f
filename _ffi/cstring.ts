/**
 * C strings: UTF-8 with a terminating NUL. The strings are checked before
 * they get here (`_sys/validate.ts`: `string()`, `path()`), so that a NUL
 * inside one is refused with a message that names the parameter.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * Encodes `s` as a NUL-terminated UTF-8 C string.
 *
 * @param s The string, already checked to hold no NUL character.
 * @returns The bytes, NUL included.
 */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(s + "\0");
}
