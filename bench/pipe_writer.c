/* pipe_writer: writes BYTES bytes to a descriptor in CHUNK-byte write(2) calls.
 *
 *   pipe_writer BYTES [CHUNK=65536] [FD=1]
 *
 * Peer for bench/pipe_bench.ts. Blocking writes, like any C producer.
 * Prints nothing (its stdout is usually the pipe). Exit 0 on success,
 * 1 on a usage error, 2 if a write fails (EPIPE when the reader has gone).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s BYTES [CHUNK] [FD]\n", argv[0]);
    return 1;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
  long long total = atoll(argv[1]);
  size_t chunk = argc > 2 ? (size_t)atol(argv[2]) : 65536;
  int fd = argc > 3 ? atoi(argv[3]) : 1;
  if (total < 0 || chunk == 0) return 1;
  char *buf = malloc(chunk);
  if (!buf) return 1;
  memset(buf, 'x', chunk);
  long long left = total;
  while (left > 0) {
    size_t want = left < (long long)chunk ? (size_t)left : chunk;
    ssize_t n = write(fd, buf, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("pipe_writer: write");
      return 2;
    }
    left -= n;
  }
  return 0;
}
