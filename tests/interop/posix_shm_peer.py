"""Python peer for the POSIX shared memory tests, with the standard library's
multiprocessing.shared_memory (names without the leading "/").

  posix_shm_peer.py create SIZE TEXT
      create memory, write TEXT at 0, print its name, wait for a line on
      stdin, print the string at 64, then close and unlink it
  posix_shm_peer.py attach NAME TEXT [keep-tracker]
      attach to NAME, print the string at 0, write TEXT at 64, close. Python
      3.8-3.12's resource tracker would unlink the memory when this process
      exits, as if it had created it: unregister it, unless keep-tracker is
      given (to show what happens then).
"""
import sys
from multiprocessing import resource_tracker, shared_memory


def string_at(buf, offset):
    raw = bytes(buf[offset:])
    return raw[: raw.index(0)].decode()


def main():
    mode = sys.argv[1]
    if mode == "create":
        size, text = int(sys.argv[2]), sys.argv[3]
        shm = shared_memory.SharedMemory(create=True, size=size)
        shm.buf[: len(text) + 1] = text.encode() + b"\0"
        print(shm.name, flush=True)
        sys.stdin.readline()
        print(string_at(shm.buf, 64), flush=True)
        shm.close()
        shm.unlink()
    elif mode == "attach":
        name, text = sys.argv[2], sys.argv[3]
        shm = shared_memory.SharedMemory(name=name)
        if "keep-tracker" not in sys.argv[4:]:
            resource_tracker.unregister(shm._name, "shared_memory")
        print(string_at(shm.buf, 0), flush=True)
        data = text.encode() + b"\0"
        shm.buf[64 : 64 + len(data)] = data
        shm.close()
    else:
        sys.exit(1)


main()
