/**
 * Files as `statx` and `statvfs` see them: the type of a file (what a FIFO
 * open and a child's working directory check before they act), the type and
 * size of an open descriptor (shared memory), and a file system's free space.
 *
 * @module
 */
import { cString, libc } from "../_ffi/mod.ts";
import { errno } from "./errno.ts";

const sys = libc(
  {
    // int statx(int dirfd, const char *pathname, int flags, unsigned int mask,
    //           struct statx *statxbuf);  (glibc ≥ 2.28)
    statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
    // int statvfs(const char *path, struct statvfs *buf);
    statvfs: { parameters: ["buffer", "buffer"], result: "i32" },
  } as const,
);

const AT_FDCWD = -100;
const AT_EMPTY_PATH = 0x1000;
const STATX_TYPE = 0x1;
const STATX_SIZE = 0x200;
/** Offset of `__u64 stx_size` in `struct statx`. */
const STATX_SIZE_AT = 40;
/** `sizeof(struct statvfs)` (112 on x86-64 and aarch64; room to spare) and its fields' offsets. */
const STATVFS_BYTES = 128;
const F_FRSIZE = 8;
const F_BLOCKS = 16;
const F_BFREE = 24;
const F_BAVAIL = 32;
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
  const st = statx(AT_FDCWD, path, 0, STATX_TYPE);
  return typeof st === "number" ? -st : st.getUint16(STATX_MODE, true) & S_IFMT;
}

/** One `statx` call: the `struct statx` to read, or the errno. */
function statx(dirfd: number, path: Uint8Array, flags: number, mask: number): DataView | number {
  const st = new Uint8Array(STATX_BYTES);
  return sys().statx(dirfd, path, flags, mask, st) === 0 ? new DataView(st.buffer) : errno();
}

/** A regular file. */
export const S_IFREG = 0o100000;

/**
 * The type and size of an open descriptor (`statx(fd, "", AT_EMPTY_PATH)`).
 *
 * @returns `{ type, size }`, or the errno.
 */
export function fdStat(fd: number): { type: number; size: number } | { errno: number } {
  const dv = statx(fd, EMPTY, AT_EMPTY_PATH, STATX_TYPE | STATX_SIZE);
  if (typeof dv === "number") return { errno: dv };
  return {
    type: dv.getUint16(STATX_MODE, true) & S_IFMT,
    size: Number(dv.getBigUint64(STATX_SIZE_AT, true)),
  };
}

const EMPTY = new Uint8Array(1);

/**
 * The bytes an unprivileged user may still allocate on the file system at
 * `path` (`statvfs`: `f_bavail * f_frsize`).
 *
 * @returns The free bytes, or `undefined` if it cannot be read.
 */
export function freeBytes(path: Uint8Array<ArrayBuffer>): number | undefined {
  return fsSpace(path)?.available;
}

/**
 * A file system's size and use (`statvfs`), in bytes: `total`, `free` (for
 * root) and `available` (for everyone else).
 *
 * @returns The figures, or `undefined` if they cannot be read.
 */
export function fsSpace(
  path: Uint8Array<ArrayBuffer>,
): { total: number; free: number; available: number } | undefined {
  const buf = new Uint8Array(STATVFS_BYTES);
  if (sys().statvfs(path, buf) !== 0) return undefined;
  const dv = new DataView(buf.buffer);
  const bytes = (at: number) => Number(dv.getBigUint64(at, true) * dv.getBigUint64(F_FRSIZE, true));
  return { total: bytes(F_BLOCKS), free: bytes(F_BFREE), available: bytes(F_BAVAIL) };
}

/** What `statx` says of a file: owner, permissions, size and times. */
export interface FileStat {
  /** `st_mode`: the type bits (`S_IFMT`) and the permission bits. */
  mode: number;
  /** The owner's user id. */
  uid: number;
  /** The owner's group id. */
  gid: number;
  /** The size in bytes. */
  size: number;
  /** The inode number. */
  ino: number;
  /** The device the file lives on, `"major:minor"` (decimal), as `/proc/<pid>/maps` tells it apart. */
  dev: string;
  /** Last access. */
  accessTime: Date;
  /** Last change of the contents. */
  modifyTime: Date;
  /** Last change of the inode (owner, mode, size). */
  changeTime: Date;
  /** Creation, where the file system keeps it (tmpfs does since Linux 5.x), else `null`. */
  birthTime: Date | null;
}

const STATX_BASIC_STATS = 0x7ff;
const STATX_BTIME = 0x800;
const AT_SYMLINK_NOFOLLOW = 0x100;

/**
 * `statx` of a path.
 *
 * @param path The path.
 * @param follow Whether to follow a final symbolic link (as for `/proc/<pid>/fd/N`).
 * @returns What it says, or `{ errno }`.
 */
export function pathStat(path: string, follow = false): FileStat | { errno: number } {
  const flags = follow ? 0 : AT_SYMLINK_NOFOLLOW;
  const dv = statx(AT_FDCWD, cString(path), flags, STATX_BASIC_STATS | STATX_BTIME);
  if (typeof dv === "number") return { errno: dv };
  // struct statx_timestamp { __s64 tv_sec; __u32 tv_nsec; __s32 reserved; }
  const time = (at: number) =>
    new Date(
      Number(dv.getBigInt64(at, true)) * 1000 + Math.floor(dv.getUint32(at + 8, true) / 1e6),
    );
  return {
    mode: dv.getUint16(STATX_MODE, true),
    uid: dv.getUint32(20, true),
    gid: dv.getUint32(24, true),
    size: Number(dv.getBigUint64(STATX_SIZE_AT, true)),
    ino: Number(dv.getBigUint64(32, true)),
    // __u32 stx_rdev_major, stx_rdev_minor (128, 132), stx_dev_major, stx_dev_minor (136, 140)
    dev: `${dv.getUint32(136, true)}:${dv.getUint32(140, true)}`,
    accessTime: time(64),
    birthTime: dv.getUint32(0, true) & STATX_BTIME ? time(80) : null,
    changeTime: time(96),
    modifyTime: time(112),
  };
}
