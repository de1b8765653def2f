"""Python sysv_ipc peer for tests/msg_test.ts (run with /usr/bin/python3).

    msg_peer.py send KEY COUNT   send COUNT messages: message i has type
                                 (i % 3) + 1 and text "py:<i>", print "sent"
    msg_peer.py recv KEY COUNT   receive COUNT messages of any type, print
                                 "<type> <text>" for each, then "done"

Every receive has a 10 s limit (sysv_ipc has no timeout: a SIGALRM), so a
broken test cannot leave this hanging.
"""
import signal
import sys

import sysv_ipc


def say(*words):
    print(*words, flush=True)


def main():
    mode, key, count = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3])
    signal.alarm(10)
    mq = sysv_ipc.MessageQueue(key)
    if mode == "send":
        for i in range(count):
            mq.send(f"py:{i}".encode(), True, (i % 3) + 1)
        say("sent")
    elif mode == "recv":
        for _ in range(count):
            data, mtype = mq.receive()
            say(mtype, data.decode())
        say("done")
    else:
        raise SystemExit(f"unknown mode {mode}")


main()
