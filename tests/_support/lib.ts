/**
 * The one place the tests and their fixtures import the library from.
 *
 * On Deno and Bun this is the TypeScript source. For the Node suite,
 * `scripts/test.ts` compiles the tests and rewrites these imports to the
 * installed npm package, as a user's code would import it: the public
 * modules as `"sysipc"`, and the few internals below (the libc binding the
 * leak checks use, the struct layouts and flags the layout test compares
 * with C) as the very files inside `node_modules/sysipc/esm/` that the
 * package itself loads — the same module instances, so a switch set here is
 * the package's.
 *
 * @module
 */
import { getBackend } from "../../_ffi/mod.ts";

export * from "../../mod.ts";
export { getBackend, libc } from "../../_ffi/mod.ts";
export { IPC } from "../../sysv/_ipc.ts";
export { MMAP, SC_PAGESIZE } from "../../_mem/mapping.ts";
export { SHM_MODE, SHM_RDONLY, SHMID_DS } from "../../sysv/_shm_sys.ts";
export { scanHolders } from "../../info/holders.ts";
export { listDir, readLink, readText } from "../../_sys/procfs.ts";
export { main as cliMain } from "../../cli/main.ts";
export { maxBlockedWaits } from "../../_sys/park.ts";

let realDetach: ((buf: ArrayBuffer) => boolean) | undefined;

/**
 * Switches for the tests, kept out of the library: with
 * `pretendBuffersCannotDetach`, the runtime backend reports that it cannot
 * detach an `ArrayBuffer` (as Node 20 with koffi does), so a mapping's
 * release takes the anonymous-placeholder path on any runtime.
 */
export const testHooks = {
  get pretendBuffersCannotDetach(): boolean {
    return realDetach !== undefined;
  },
  set pretendBuffersCannotDetach(on: boolean) {
    const b = getBackend();
    if (on && realDetach === undefined) {
      realDetach = b.detachArrayBuffer;
      b.detachArrayBuffer = () => false;
    } else if (!on && realDetach !== undefined) {
      b.detachArrayBuffer = realDetach;
      realDetach = undefined;
    }
  },
};
