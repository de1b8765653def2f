/* posix_pingpong: POSIX named-semaphore round trips between two processes.
 *
 *   posix_pingpong self ROUNDS [WARMUP=1000] [MAX_MS=0] [CHILD_CPU=-1]
 *       Makes two named semaphores (both 0; unlinked at once, so nothing is
 *       left even if killed) and forks. The parent does sem_post(A) then
 *       sem_wait(B), the child sem_wait(A) then sem_post(B): one round trip.
 *       ROUNDS timed rounds after WARMUP untimed ones (or fewer when MAX_MS
 *       > 0 and that many milliseconds have passed; checked every 256
 *       rounds); prints {"rounds":<timed rounds>,"ns":<total>}.
 *       CHILD_CPU ≥ 0 pins the child to that CPU.
 *   posix_pingpong pong A B
 *       The peer for a ping side written in TypeScript: opens the named
 *       semaphores A and B, posts B once (ready: the names may go), then
 *       sem_wait(A) and sem_post(B) until it is killed.
 *   posix_pingpong uncontended PAIRS
 *       One process, one semaphore at 1: PAIRS × { sem_trywait; sem_post };
 *       prints {"pairs":PAIRS,"ns":<total>}.
 *
 * Peer for bench/posix_bench.ts. Plain sem_wait/sem_post, as C programs do.
 */
#define _GNU_SOURCE
#include "_peer.h"
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* A new named semaphore at 0, its name already unlinked. */
static sem_t *anonymous_sem(const char *tag) {
  char name[64];
  snprintf(name, sizeof name, "/sysipc_bench_%s_%d", tag, (int)getpid());
  sem_t *s = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
  if (s == SEM_FAILED) {
    perror("sem_open");
    exit(2);
  }
  sem_unlink(name);
  return s;
}

static int wait_for(sem_t *s) {
  while (sem_wait(s) < 0) {
    if (errno != EINTR) return -1;
  }
  return 0;
}

/* One round trip of the ping side: post A, wait for B (ab = {A, B}). */
static int round_trip(void *ab) {
  sem_t **s = ab;
  return sem_post(s[0]) < 0 || wait_for(s[1]) < 0;
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
  if (argc == 4 && strcmp(argv[1], "pong") == 0) {
    sem_t *a = sem_open(argv[2], 0), *b = sem_open(argv[3], 0);
    if (a == SEM_FAILED || b == SEM_FAILED) {
      perror("posix_pingpong pong: sem_open");
      return 2;
    }
    if (sem_post(b) < 0) return 2; /* ready */
    for (;;) {
      if (wait_for(a) < 0 || sem_post(b) < 0) {
        perror("posix_pingpong pong");
        return 2;
      }
    }
  }
  if (argc == 3 && strcmp(argv[1], "uncontended") == 0) {
    long pairs = atol(argv[2]);
    sem_t *s = anonymous_sem("un");
    sem_post(s);
    for (long i = 0; i < pairs / 10; i++) sem_trywait(s), sem_post(s);
    long long t0 = now_ns();
    for (long i = 0; i < pairs; i++) {
      if (sem_trywait(s) < 0 || sem_post(s) < 0) {
        perror("posix_pingpong uncontended");
        return 2;
      }
    }
    long long ns = now_ns() - t0;
    printf("{\"pairs\":%ld,\"ns\":%lld}\n", pairs, ns);
    return 0;
  }
  if (argc < 3 || strcmp(argv[1], "self") != 0) {
    fprintf(stderr, "usage: %s self ROUNDS [WARMUP] [MAX_MS] [CHILD_CPU] | pong A B | uncontended PAIRS\n",
            argv[0]);
    return 1;
  }
  struct round_trips r = round_trip_args(argc, argv);
  sem_t *ab[2] = {anonymous_sem("a"), anonymous_sem("b")};
  pid_t pid = fork_pinned(r.child_cpu);
  if (pid < 0) {
    perror("fork");
    return 2;
  }
  if (pid == 0) {
    for (;;) {
      if (wait_for(ab[0]) < 0 || sem_post(ab[1]) < 0) _exit(2);
    }
  }
  long long ns = 0;
  long done = time_round_trips(&r, round_trip, ab, &ns);
  if (done < 0) perror("posix_pingpong: round trip");
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
  if (done < 0) return 2;
  printf("{\"rounds\":%ld,\"ns\":%lld}\n", done, ns);
  return 0;
}
