"""Samples semctl(GETNCNT) of one semaphore as fast as it can, for a while.

    python3 sem_ncnt.py <semid> <index> <seconds>

Prints "ready" once started, then "<samples> <min> <max> <zeros>" at the end
(what `ipcs -s -i` would have shown, sampled a few hundred thousand times).
"""
import ctypes
import sys
import time

GETNCNT = 14
libc = ctypes.CDLL(None, use_errno=True)
semid, index, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
print("ready", flush=True)
samples = zeros = 0
lo, hi = 1 << 30, -1
end = time.monotonic() + seconds
while time.monotonic() < end:
    for _ in range(100):
        n = libc.semctl(semid, index, GETNCNT)
        if n < 0:
            sys.exit(f"semctl: errno {ctypes.get_errno()}")
        samples += 1
        zeros += n == 0
        lo, hi = min(lo, n), max(hi, n)
print(samples, lo, hi, zeros, flush=True)
