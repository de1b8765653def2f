"""channel_peer.py: side 1 of a sysipc Channel in Python, written from
channel/LAYOUT.md with the standard library (mmap, struct, os; zlib for the
checksum; ctypes for FUTEX_WAKE alone).

A polling peer: it never sleeps on a futex and never sets consumer_waiting or
producer_need; when there is nothing to do it sleeps briefly and looks again.
It still does the waker's half of the protocol — FUTEX_WAKE when the other
side says it sleeps (after a send, after a receive, on attaching and on
closing) — because a sysipc side that sleeps on a futex has no other way to
learn that a poller moved a counter: without these wakes a stream into a
small ring stops at the first full ring. Python's stores are plain (no full
fence between storing a counter and loading the other side's flag), so
while idle it looks at the other side's flags again and wakes it late rather
than never.

    SYSIPC_CHANNEL_FD=3 channel_peer.py receive         read until the channel ends
    SYSIPC_CHANNEL_FD=3 channel_peer.py echo            send each message back, until the end

Then it closes its side and prints one JSON line:
{"mode": ..., "messages": ..., "bytes": ..., "checksum": ..., "polls": ..., "wakes": ...}
— checksum is CRC-32 (zlib) over each message's length (4 bytes,
little-endian) and then its bytes; polls counts the short sleeps, wakes the
FUTEX_WAKE calls.

The counters are read and written with struct's native format ("I", no
prefix): CPython copies a native 4-byte field with one memcpy, a single
aligned load or store on x86-64 and aarch64, where "<I" would store byte by
byte and the other side could see half of a new counter.

Exit 3 on a refused or corrupt channel, 4 if the peer died or went silent.
"""

import ctypes
import json
import mmap
import platform
import os
import struct
import sys
import time
import zlib

MAGIC = 0x43737973
WRAP = 0xFFFFFFFF
HEADER = 4096
POLL = 0.0002  # seconds asleep when there is nothing to do
SILENT = 60.0  # seconds without progress before giving up

U32 = struct.Struct("I")  # native order, one memcpy


SYS_FUTEX = {"x86_64": 202, "aarch64": 98}[platform.machine()]
FUTEX_WAKE = 1  # the shared operation: the other process maps these pages elsewhere
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
wakes = 0


def refuse(why):
    print(f"channel_peer.py: {why}", file=sys.stderr)
    sys.exit(3)


fd = int(os.environ["SYSIPC_CHANNEL_FD"])
size = os.fstat(fd).st_size
if size < HEADER:
    refuse("smaller than the header page")
mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
os.close(fd)
anchor = ctypes.c_char.from_buffer(mm)  # for the address of the mapping; dropped before close
base = ctypes.addressof(anchor)


def wake(off):
    """Adds 1 to the futex word at off, then FUTEX_WAKE (one waiter).

    Python cannot add atomically; a plain load and store is enough here
    because each word this peer bumps (ring 0's producer_wake, ring 1's
    consumer_wake) is one only this side wakes.
    """
    global wakes
    wakes += 1
    store(off, load(off) + 1)
    if libc.syscall(SYS_FUTEX, ctypes.c_void_p(base + off), FUTEX_WAKE, 1, None, None, 0) < 0:
        raise OSError(ctypes.get_errno(), "futex")


def load(off):
    return U32.unpack_from(mm, off)[0]


def store(off, value):
    U32.pack_into(mm, off, value & 0xFFFFFFFF)


if load(0) != MAGIC:
    refuse("bad magic")
if load(4) != 1:
    refuse("unknown version")
capacity = load(8)
if capacity < 4096 or capacity > 1 << 30 or capacity & (capacity - 1):
    refuse("bad capacity")
if size < HEADER + 2 * capacity:
    refuse("smaller than 4096 + 2 x capacity")
# Claiming side 1 wants a compare-and-swap, which Python's mmap cannot do; the
# descriptor was handed to this process alone, so nobody else races for it.
if load(20) != 0:
    refuse("both sides are taken")
store(20, os.getpid())
peer = struct.unpack_from("i", mm, 16)[0]
MASK = capacity - 1
MAX = capacity // 2 - 8

# Ring 0: side 0 produces, we consume. Ring 1: we produce.
IN, OUT = 64, 256
IN_DATA, OUT_DATA = HEADER, HEADER + capacity
HEAD, PRODUCER_CLOSED, TAIL, CONSUMER_CLOSED = 0, 4, 64, 68
CONSUMER_WAITING, CONSUMER_WAKE, PRODUCER_NEED, PRODUCER_WAKE = 128, 132, 136, 140

# Attached: wake the creator's two futex words, ring 0's producer_wake and ring 1's consumer_wake.
wake(IN + PRODUCER_WAKE)
wake(OUT + CONSUMER_WAKE)

polls = 0
last_progress = time.monotonic()


def late_wakes():
    """Wakes the other side if it sleeps for something that is already there."""
    need = load(IN + PRODUCER_NEED)
    if need != 0 and capacity - ((load(IN + HEAD) - in_tail) & 0xFFFFFFFF) >= need:
        wake(IN + PRODUCER_WAKE)
    if load(OUT + CONSUMER_WAITING) == 1 and load(OUT + HEAD) != load(OUT + TAIL):
        wake(OUT + CONSUMER_WAKE)


def idle():
    """Nothing to do: sleep a little; give up if the peer died or went silent."""
    global polls
    polls += 1
    late_wakes()
    time.sleep(POLL)
    if polls % 1000 == 0:
        try:
            os.kill(peer, 0)
        except ProcessLookupError:
            print(f"channel_peer.py: the peer (pid {peer}) died", file=sys.stderr)
            sys.exit(4)
        if time.monotonic() - last_progress > SILENT:
            print("channel_peer.py: the peer went silent", file=sys.stderr)
            sys.exit(4)


def progress():
    global last_progress
    last_progress = time.monotonic()


in_tail = load(IN + TAIL)
out_head = load(OUT + HEAD)


def receive():
    """The next message as bytes, or None once the producer closed and all was read."""
    global in_tail
    while True:
        tail = in_tail
        head = load(IN + HEAD)
        if head == tail:
            if load(IN + PRODUCER_CLOSED) == 1:
                if load(IN + HEAD) == tail:
                    return None
                continue
            idle()
            continue
        pos = tail & MASK
        length = load(IN_DATA + pos)
        if length == WRAP:
            tail = (tail + capacity - pos) & 0xFFFFFFFF
            pos = 0
            length = load(IN_DATA)
        rec = 8 + ((length + 7) & ~7)
        if length > MAX or rec > (head - tail) & 0xFFFFFFFF:
            refuse(f"corrupt record: length {length} at {pos} (head {head}, tail {tail})")
        msg = mm[IN_DATA + pos + 8 : IN_DATA + pos + 8 + length]
        in_tail = (tail + rec) & 0xFFFFFFFF
        store(IN + TAIL, in_tail)
        need = load(IN + PRODUCER_NEED)
        if need != 0 and capacity - ((load(IN + HEAD) - in_tail) & 0xFFFFFFFF) >= need:
            wake(IN + PRODUCER_WAKE)
        progress()
        return msg


def send(msg):
    """Sends msg; False once the consumer has closed."""
    global out_head
    length = len(msg)
    rec = 8 + ((length + 7) & ~7)
    while True:
        head = out_head
        pos = head & MASK
        to_end = capacity - pos
        need = rec if rec <= to_end else to_end + rec
        if load(OUT + CONSUMER_CLOSED) == 1:
            return False
        tail = load(OUT + TAIL)
        if capacity - ((head - tail) & 0xFFFFFFFF) < need:
            idle()
            continue
        if rec > to_end:
            store(OUT_DATA + pos, WRAP)
            head = (head + to_end) & 0xFFFFFFFF
            pos = 0
        store(OUT_DATA + pos, length)
        store(OUT_DATA + pos + 4, 0)
        mm[OUT_DATA + pos + 8 : OUT_DATA + pos + 8 + length] = msg
        out_head = (head + rec) & 0xFFFFFFFF
        store(OUT + HEAD, out_head)
        if load(OUT + CONSUMER_WAITING) == 1:
            wake(OUT + CONSUMER_WAKE)
        progress()
        return True


mode = sys.argv[1] if len(sys.argv) == 2 else ""
if mode not in ("receive", "echo"):
    print(__doc__, file=sys.stderr)
    sys.exit(1)
count = total = 0
crc = 0
while True:
    msg = receive()
    if msg is None:
        break
    count += 1
    total += len(msg)
    crc = zlib.crc32(msg, zlib.crc32(struct.pack("<I", len(msg)), crc))
    if mode == "echo" and not send(msg):
        break

# Closing: the flags, then wake whoever sleeps on the rings.
store(OUT + PRODUCER_CLOSED, 1)
store(IN + CONSUMER_CLOSED, 1)
wake(OUT + CONSUMER_WAKE)
wake(IN + PRODUCER_WAKE)
del anchor
mm.close()
out = {"mode": mode, "messages": count, "bytes": total, "checksum": crc}
print(json.dumps({**out, "polls": polls, "wakes": wakes}))
