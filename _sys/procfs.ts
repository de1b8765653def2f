/**
 * Reading the kernel's files through libc — small settings (`/proc/sys/...`),
 * tables (`/proc/sysvipc/*`), directories (`/dev/shm`, `/proc`) and links
 * (`/proc/<pid>/fd/*`) — so the library needs none of the runtime's file
 * APIs (Deno 2.9 asks for `--allow-all` before it reads anything under
 * `/proc` or lists `/dev/shm`; libc has no such rule).
 *
 * @module
 */
import { cString, getBackend, libc } from "../_ffi/mod.ts";
import { errno } from "./errno.ts";

const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;

const sys = libc(
  {
    // int open(const char *pathname, int flags, ...);  (mode unused with O_RDONLY)
    open: { parameters: ["buffer", "i32"], result: "i32" },
    // ssize_t read(int fd, void *buf, size_t count);
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    // int close(int fd);
    close: { parameters: ["i32"], result: "i32" },
    // ssize_t readlink(const char *pathname, char *buf, size_t bufsiz);
    readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
    // DIR *opendir(const char *name);
    opendir: { parameters: ["buffer"], result: "pointer" },
    // struct dirent *readdir(DIR *dirp);
    readdir: { parameters: ["pointer"], result: "pointer" },
    // int closedir(DIR *dirp);
    closedir: { parameters: ["pointer"], result: "i32" },
  } as const,
);

/** Offset of `d_name` in glibc's 64-bit `struct dirent` (d_ino, d_off, d_reclen, d_type). */
const DIRENT_NAME = 19n;

/**
 * Reads a numeric kernel setting such as `/proc/sys/fs/pipe-max-size` (the
 * first number in the file). Returns `undefined` when it cannot be read.
 *
 * @param path The `/proc` file.
 */
export function readProcNumber(path: string): bigint | undefined {
  const text = readText(path)?.trim().split(/\s+/)[0];
  return text !== undefined && /^\d+$/.test(text) ? BigInt(text) : undefined;
}

/**
 * Reads a whole (small) text file, such as one under `/proc`.
 *
 * @param path The file.
 * @returns Its text, or `undefined` if it cannot be opened or read.
 */
export function readText(path: string): string | undefined {
  const fd = sys().open(cString(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return undefined;
  try {
    const parts: Uint8Array[] = [];
    for (;;) {
      const buf = new Uint8Array(16384);
      const n = Number(sys().read(fd, buf, buf.length));
      if (n < 0 && parts.length === 0) return undefined; // e.g. another user's /proc/<pid>/maps
      if (n <= 0) break;
      parts.push(buf.subarray(0, n));
    }
    const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) all.set(p, (at += p.length) - p.length);
    return new TextDecoder().decode(all);
  } finally {
    sys().close(fd);
  }
}

/**
 * The names in a directory, without `.` and `..`, sorted.
 *
 * @param path The directory.
 * @returns The names, or `undefined` if it cannot be opened.
 */
export function listDir(path: string): string[] | undefined {
  const dir = sys().opendir(cString(path));
  if (dir === null) return undefined;
  const b = getBackend();
  const names: string[] = [];
  try {
    for (let e = sys().readdir(dir); e !== null; e = sys().readdir(dir)) {
      const name = b.readCString(b.pointerFrom(b.pointerValue(e) + DIRENT_NAME));
      if (name !== "." && name !== "..") names.push(name);
    }
  } finally {
    sys().closedir(dir);
  }
  return names.sort();
}

/**
 * Where a symbolic link points (`readlink`): for `/proc/<pid>/fd/N`, what the
 * descriptor is — a path, `pipe:[1234]`, `/memfd:name (deleted)`, …
 *
 * @param path The link.
 * @returns The target, or `-errno` if it cannot be read.
 */
export function readLink(path: string): string | number {
  const buf = new Uint8Array(4096);
  const n = Number(sys().readlink(cString(path), buf, buf.length));
  return n < 0 ? -errno() : new TextDecoder().decode(buf.subarray(0, n));
}
