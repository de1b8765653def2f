"""Python peer for tests/pmq_test.ts (run with /usr/bin/python3), with the
POSIX calls through ctypes: Debian packages no posix_ipc.

    pmq_peer.py send NAME COUNT   mq_send COUNT messages "py:<i>" with priority i % 3
    pmq_peer.py recv NAME COUNT   mq_receive COUNT messages, print "<priority> <text>"
                                  each, then "done"

alarm(10) ends it if a test goes wrong.
"""
import ctypes
import ctypes.util
import os
import signal
import sys

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.mq_open.restype = ctypes.c_int
libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.mq_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint]
libc.mq_receive.restype = ctypes.c_ssize_t
libc.mq_receive.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t,
                            ctypes.POINTER(ctypes.c_uint)]


class MqAttr(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_long), ("maxmsg", ctypes.c_long),
                ("msgsize", ctypes.c_long), ("curmsgs", ctypes.c_long),
                ("pad", ctypes.c_long * 4)]


def check(r, what):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return r


def main():
    mode, name, count = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
    signal.alarm(10)
    q = check(libc.mq_open(name, os.O_WRONLY if mode == "send" else os.O_RDONLY), "mq_open")
    attr = MqAttr()
    check(libc.mq_getattr(q, ctypes.byref(attr)), "mq_getattr")
    if mode == "send":
        for i in range(count):
            data = f"py:{i}".encode()
            check(libc.mq_send(q, data, len(data), i % 3), "mq_send")
        print("sent", flush=True)
    elif mode == "recv":
        buf = ctypes.create_string_buffer(attr.msgsize)
        prio = ctypes.c_uint()
        for _ in range(count):
            n = check(libc.mq_receive(q, buf, attr.msgsize, ctypes.byref(prio)), "mq_receive")
            print(prio.value, buf.raw[:n].decode(), flush=True)
        print("done", flush=True)
    else:
        raise SystemExit(f"unknown mode {mode}")
    libc.mq_close(q)


main()
