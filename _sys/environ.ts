/**
 * The process environment as libc sees it (`environ`), without needing the
 * runtime's env permission.
 *
 * @module
 */
import { getBackend, libc, type Pointer } from "../_ffi/mod.ts";

const sys = libc(
  {
    // void *dlsym(void *handle, const char *symbol);  (RTLD_DEFAULT = NULL)
    dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
  } as const,
);

/** The current `char **environ` pointer (re-read every call: setenv may move it). */
export function environPointer(): Pointer {
  const slot = sys().dlsym(null, new TextEncoder().encode("environ\0"));
  if (slot === null) return null;
  return getBackend().readPointer(slot);
}

/** The current environment as `NAME=value` strings, in libc's order. */
export function environEntries(): string[] {
  const b = getBackend();
  const env = environPointer();
  const out: string[] = [];
  if (env === null) return out;
  for (let i = 0;; i++) {
    const p = b.readPointer(env, 8 * i);
    if (p === null) break;
    out.push(b.readCString(p));
  }
  return out;
}
