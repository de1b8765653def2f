"""Python sysv_ipc peer for tests/sem_test.ts (run with /usr/bin/python3).

    sem_peer.py create KEY   create a semaphore (value 1), print "ready ID PID";
                             on "go" (stdin) wait for it (P) and print "acquired VALUE";
                             on "remove" remove it and print "removed"
    sem_peer.py wait KEY     open an existing semaphore, print "waiting PID",
                             wait for it (P), print "acquired", then release it
                             twice (V by 2) and print "released"

Every wait has a 10 s timeout, so a broken test cannot leave this hanging.
"""
import os
import sys

import sysv_ipc


def say(*words):
    print(*words, flush=True)


def expect(word):
    line = sys.stdin.readline().strip()
    if line != word:
        raise SystemExit(f"expected {word!r} on stdin, got {line!r}")


def main():
    mode, key = sys.argv[1], int(sys.argv[2], 0)
    if mode == "create":
        sem = sysv_ipc.Semaphore(key, sysv_ipc.IPC_CREX, 0o600, 1)
        say("ready", sem.id, os.getpid())
        expect("go")
        sem.acquire(10)
        say("acquired", sem.value)
        expect("remove")
        sem.remove()
        say("removed")
    elif mode == "wait":
        sem = sysv_ipc.Semaphore(key)
        say("waiting", os.getpid())
        sem.acquire(10)
        say("acquired")
        sem.release(2)
        say("released")
    else:
        raise SystemExit(f"unknown mode {mode}")


main()
