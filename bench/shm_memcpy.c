/* shm_memcpy: times memcpy(3) of BYTES bytes into or out of a System V
 * shared memory segment, the C baseline for bench/shm_bench.ts.
 *
 *   shm_memcpy BYTES ITERS in|out|out-fresh [sysv|posix]
 *
 * Creates an IPC_PRIVATE segment, marks it for removal at once (IPC_RMID:
 * the kernel frees it when this process exits, even if it is killed) — or,
 * with `posix`, POSIX shared memory (shm_open, unlinked at once, ftruncate,
 * mmap MAP_SHARED; the baseline for bench/posix_bench.ts) — fills
 * a heap buffer with a pattern, copies once in each direction untimed (so
 * every page of both is faulted in), then times ITERS copies in the asked
 * direction. `out-fresh` copies out into a new malloc(BYTES) each time (and
 * frees it), whose pages the copy faults in: what an allocating copy such
 * as JavaScript's slice() pays. Prints one JSON line: {"bytes", "iters", "ns", "check"}, where
 * ns is the total for ITERS copies. Exit 1 on a usage error, 2 if a system
 * call fails.
 */
#define _GNU_SOURCE
#include "_peer.h"
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <time.h>

/* POSIX shared memory of BYTES, already unlinked: gone when this process exits. */
static unsigned char *posix_map(size_t bytes) {
  char name[64];
  snprintf(name, sizeof name, "/sysipc_bench_memcpy_%d", (int)getpid());
  int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) { perror("shm_open"); return NULL; }
  shm_unlink(name);
  if (ftruncate(fd, (off_t)bytes) < 0) { perror("ftruncate"); return NULL; }
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) { perror("mmap"); return NULL; }
  return p;
}


int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s BYTES ITERS in|out|out-fresh [sysv|posix]\n", argv[0]);
    return 1;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
  size_t bytes = (size_t)atoll(argv[1]);
  int iters = atoi(argv[2]);
  int in = strcmp(argv[3], "in") == 0;
  int fresh = strcmp(argv[3], "out-fresh") == 0;
  if (bytes == 0 || iters <= 0 || (!in && !fresh && strcmp(argv[3], "out") != 0)) return 1;
  int posix = argc > 4 && strcmp(argv[4], "posix") == 0;
  unsigned char *shm;
  if (posix) {
    shm = posix_map(bytes);
    if (!shm) return 2;
  } else {
    int id = shmget(IPC_PRIVATE, bytes, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0) { perror("shmget"); return 2; }
    shm = shmat(id, NULL, 0);
    shmctl(id, IPC_RMID, NULL);
    if (shm == (void *)-1) { perror("shmat"); return 2; }
  }
  unsigned char *heap = malloc(bytes);
  if (!heap) return 2;
  for (size_t i = 0; i < bytes; i++) heap[i] = (unsigned char)(i * 131 + 7);
  memcpy(shm, heap, bytes); /* warm-up: fault in every page of both */
  memcpy(heap, shm, bytes);
  long long t0 = now_ns();
  for (int k = 0; k < iters; k++) {
    if (in) {
      memcpy(shm, heap, bytes);
    } else if (fresh) {
      unsigned char *dst = malloc(bytes);
      if (!dst) return 2;
      memcpy(dst, shm, bytes);
      __asm__ __volatile__("" : : "r"(dst) : "memory");
      heap[k % bytes] ^= dst[(size_t)k * 4096 % bytes]; /* use the copy */
      free(dst);
    } else {
      memcpy(heap, shm, bytes);
    }
    __asm__ __volatile__("" ::: "memory"); /* each copy really happens */
  }
  long long ns = now_ns() - t0;
  unsigned long check = 0;
  for (size_t i = 0; i < bytes; i += 4096) check += in ? shm[i] : heap[i];
  printf("{\"bytes\":%zu,\"iters\":%d,\"ns\":%lld,\"check\":%lu}\n", bytes, iters, ns, check);
  if (posix) munmap(shm, bytes);
  else shmdt(shm);
  free(heap);
  return 0;
}
