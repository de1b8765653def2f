/**
 * The type of a file, from `statx`: what a FIFO open and a child's working
 * directory check before they act.
 *
 * @module
 */
import { libc } from "../_ffi/mod.ts";
import { errno } from "./errno.ts";

const sys = libc(
  {
    // int statx(int dirfd, const char *pathname, int flags, unsigned int mask,
    //           struct statx *statxbuf);  (glibc ≥ 2.28)
    statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  } as const,
);

const AT_FDCWD = -100;
const STATX_TYPE = 0x1;
/** `sizeof(struct statx)`, and the offset of its `__u16 stx_mode` (the same on every Linux ABI). */
const STATX_BYTES = 256;
const STATX_MODE = 28;

/** The file type bits of a mode, and the types we look for. */
export const S_IFMT = 0o170000;
/** A FIFO. */
export const S_IFIFO = 0o010000;
/** A directory. */
export const S_IFDIR = 0o040000;

/**
 * The file type (`mode & S_IFMT`) of what is at `path`, following symbolic
 * links, or `-errno` if `statx` fails.
 *
 * @param path The path as a C string.
 */
export function fileType(path: Uint8Array<ArrayBuffer>): number {
  const st = new Uint8Array(STATX_BYTES);
  if (sys().statx(AT_FDCWD, path, 0, STATX_TYPE, st) !== 0) return -errno();
  return (st[STATX_MODE] | (st[STATX_MODE + 1] << 8)) & S_IFMT;
}
