"""Python sysv_ipc peer for tests/shm_interop_test.ts (Debian python3-sysv-ipc 1.0.0;
run with /usr/bin/python3). Prints one JSON object per step on stdout.

  shm_peer.py create SIZE
      Creates a segment (IPC_CREX, random key, mode 0o600), writes
      b"hello from python\\0" at offset 0 and prints {"key","id","pid","size"}.
      Then waits for a line on stdin, reads the NUL-terminated string at
      offset 100, prints {"read", "nattch", "last_pid"}, detaches, removes the
      segment and exits.

  shm_peer.py attach KEY
      Attaches the segment with KEY, reads the NUL-terminated string at
      offset 0, writes b"hello from python\\0" at offset 100, prints {"read",
      "pid", "nattch", "creator_pid", "size"}, detaches and exits.
"""
import json
import os
import sys

import sysv_ipc

MSG = b"hello from python\0"


def cstring(shm, offset):
    raw = shm.read(shm.size - offset, offset)
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode()


def say(obj):
    print(json.dumps(obj), flush=True)


def create(size):
    shm = sysv_ipc.SharedMemory(None, sysv_ipc.IPC_CREX, mode=0o600, size=size, init_character=b"\0")
    try:
        shm.write(MSG, 0)
        say({"key": shm.key, "id": shm.id, "pid": os.getpid(), "size": shm.size})
        sys.stdin.readline()
        say({"read": cstring(shm, 100), "nattch": shm.number_attached, "last_pid": shm.last_pid})
        shm.detach()
    finally:
        shm.remove()


def attach(key):
    shm = sysv_ipc.SharedMemory(key)
    text = cstring(shm, 0)
    shm.write(MSG, 100)
    say({"read": text, "pid": os.getpid(), "nattch": shm.number_attached,
         "creator_pid": shm.creator_pid, "size": shm.size})
    shm.detach()


if __name__ == "__main__":
    if sys.argv[1] == "create":
        create(int(sys.argv[2]))
    elif sys.argv[1] == "attach":
        attach(int(sys.argv[2]))
    else:
        sys.exit("usage: shm_peer.py create SIZE | attach KEY")
