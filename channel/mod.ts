/**
 * A message channel between two processes over shared memory — the fastest
 * way for two JavaScript processes (or a JavaScript process and a C or
 * Python one, see `channel/LAYOUT.md`) on one machine to talk.
 *
 * `Channel` is duplex and message-framed: each direction is a ring in memory
 * both processes map, written by one side and read by the other. A message
 * is copied in once and out once (or not at all, with `reserve()`/`commit()`
 * and `receiveView()`/`release()`); no system call is made per message while
 * both sides keep up, and a side that must wait sleeps on a futex off the
 * JavaScript thread. `send()` waits while the ring is full (nothing is
 * dropped); `receive()` resolves to `null` once the peer closed and
 * everything was read; a peer that dies makes waits reject with `IpcError`
 * `ECONNRESET`. Requires `--allow-ffi`.
 *
 * @example Parent and child
 * ```ts ignore
 * import { Channel, spawn } from "@sysipc/sysipc";
 * // parent.ts
 * using channel = Channel.create();
 * const child = spawn("deno", { args: ["run", "--allow-ffi", "--allow-env", "child.ts"], channel });
 * await channel.send("2 + 2");
 * console.log(new TextDecoder().decode((await channel.receive())!)); // "4"
 * await child.status;
 * // child.ts
 * using parent = Channel.fromParent();
 * for await (const m of parent.readable) {
  const [x, , y] = new TextDecoder().decode(m).split(" ");
  await parent.send(String(Number(x) + Number(y)));
}
 * ```
 *
 * @module
 */
export { Channel, CHANNEL_FD_ENV } from "./channel.ts";
export type { ChannelOptions } from "./channel.ts";
