/**
 * C strings: UTF-8 with a terminating NUL, validated before any syscall.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * Encodes `s` as a NUL-terminated UTF-8 C string.
 *
 * @param s The string.
 * @param what What the string is, for the error message ("FIFO path").
 * @throws {TypeError} If `s` is not a string or contains a NUL character.
 */
export function cString(s: string, what = "string"): Uint8Array<ArrayBuffer> {
  if (typeof s !== "string") {
    throw new TypeError(`The ${what} must be a string, got ${typeof s}`);
  }
  if (s.includes("\0")) {
    throw new TypeError(`The ${what} must not contain a NUL character: ${JSON.stringify(s)}`);
  }
  return encoder.encode(s + "\0");
}

/**
 * Turns a `string | URL` path into a string path.
 *
 * @param path The path; a URL must use the `file:` scheme.
 * @param what What the path is, for the error message.
 * @throws {TypeError} For another type, an empty path, a non-file URL or a NUL byte.
 */
export function toPath(path: string | URL, what = "path"): string {
  let p: string;
  if (path instanceof URL) {
    if (path.protocol !== "file:") {
      throw new TypeError(`The ${what} URL must use the file: scheme, got ${path.protocol}`);
    }
    p = decodeURIComponent(path.pathname);
  } else if (typeof path === "string") {
    p = path;
  } else {
    throw new TypeError(`The ${what} must be a string or a file: URL, got ${typeof path}`);
  }
  if (p.length === 0) throw new TypeError(`The ${what} must not be empty`);
  if (p.includes("\0")) {
    throw new TypeError(`The ${what} must not contain a NUL character: ${JSON.stringify(p)}`);
  }
  return p;
}
