/* pipe_reader: reads a descriptor to end of file in CHUNK-byte read(2) calls
 * and reports the steady-state rate.
 *
 *   pipe_reader [CHUNK=65536] [FD=0]
 *
 * Peer for bench/pipe_bench.ts. Blocking reads, like any C consumer. The clock
 * (CLOCK_MONOTONIC) starts when the first read returns data, so neither
 * process's start-up is counted; prints one JSON line to stdout:
 *   {"bytes":<all bytes>,"timedBytes":<bytes after the first read>,"ns":<first read → EOF>}
 */
#define _GNU_SOURCE
#include "_peer.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>


int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
  size_t chunk = argc > 1 ? (size_t)atol(argv[1]) : 65536;
  int fd = argc > 2 ? atoi(argv[2]) : 0;
  if (chunk == 0) return 1;
  char *buf = malloc(chunk);
  if (!buf) return 1;
  long long bytes = 0, first = 0, t0 = 0;
  for (;;) {
    ssize_t n = read(fd, buf, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("pipe_reader: read");
      return 2;
    }
    if (n == 0) break;
    if (bytes == 0) {
      t0 = now_ns();
      first = n;
    }
    bytes += n;
  }
  long long ns = bytes ? now_ns() - t0 : 0;
  printf("{\"bytes\":%lld,\"timedBytes\":%lld,\"ns\":%lld}\n", bytes, bytes - first, ns);
  return 0;
}
