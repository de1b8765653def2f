/**
 * Reading small kernel settings (`/proc/sys/...`) through libc, so limits can
 * be checked before a syscall without needing the runtime's file APIs.
 *
 * @module
 */
import { cString, libc } from "../_ffi/mod.ts";

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
  } as const,
);

/**
 * Reads a numeric kernel setting such as `/proc/sys/fs/pipe-max-size`.
 * Returns `undefined` when it cannot be read (then the kernel decides).
 *
 * @param path The `/proc` file.
 */
export function readProcNumber(path: string): bigint | undefined {
  const fd = sys().open(cString(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return undefined;
  try {
    const buf = new Uint8Array(64);
    const n = Number(sys().read(fd, buf, buf.length));
    if (n <= 0) return undefined;
    const text = new TextDecoder().decode(buf.subarray(0, n)).trim().split(/\s+/)[0];
    return /^\d+$/.test(text) ? BigInt(text) : undefined;
  } finally {
    sys().close(fd);
  }
}
