/* sem_pingpong: System V semaphore round trips between two processes.
 *
 *   sem_pingpong self ROUNDS [WARMUP=1000] [MAX_MS=0] [CHILD_CPU=-1]
 *       Makes an IPC_PRIVATE set of two semaphores (both 0) and forks. The
 *       parent does V(0) then P(1), the child P(0) then V(1): one round trip.
 *       ROUNDS timed rounds after WARMUP untimed ones (or fewer when MAX_MS
 *       > 0 and that many milliseconds have passed; checked every 256
 *       rounds); prints {"rounds":<timed rounds>,"ns":<total>} and removes
 *       the set. CHILD_CPU ≥ 0 pins the child to that CPU (sched_setaffinity).
 *   sem_pingpong pong ID
 *       The peer for a ping side written in TypeScript: P(0) then V(1) on
 *       set ID until the set is removed (EIDRM/EINVAL), then exits 0.
 *   sem_pingpong uncontended PAIRS
 *       One process, one semaphore at 1: PAIRS × { semop -1 IPC_NOWAIT;
 *       semop +1 IPC_NOWAIT }; prints {"pairs":PAIRS,"ns":<total>}.
 *
 * Peer for bench/sem_bench.ts. Plain blocking semop(2), as C programs do.
 */
#define _GNU_SOURCE
#include "_peer.h"
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


/* 0 = done, 1 = the set is gone, -1 = other error. */
static int op(int id, unsigned short num, short delta, short flags) {
  struct sembuf b = {num, delta, flags};
  for (;;) {
    if (semop(id, &b, 1) == 0) return 0;
    if (errno == EINTR) continue;
    return (errno == EIDRM || errno == EINVAL) ? 1 : -1;
  }
}

static int pong(int id) {
  for (;;) {
    int r = op(id, 0, -1, 0);
    if (r == 1) return 0;
    if (r < 0 || op(id, 1, 1, 0) < 0) {
      perror("sem_pingpong pong");
      return 2;
    }
  }
}

/* One round trip of the ping side: V(0), then P(1). */
static int round_trip(void *id) {
  int i = *(int *)id;
  return op(i, 0, 1, 0) != 0 || op(i, 1, -1, 0) != 0;
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
  if (argc >= 3 && strcmp(argv[1], "pong") == 0) return pong(atoi(argv[2]));
  if (argc >= 3 && strcmp(argv[1], "uncontended") == 0) {
    long pairs = atol(argv[2]);
    int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    if (id < 0 || op(id, 0, 1, 0) != 0) {
      perror("sem_pingpong uncontended");
      return 2;
    }
    for (long i = 0; i < pairs / 10; i++) op(id, 0, -1, IPC_NOWAIT), op(id, 0, 1, IPC_NOWAIT);
    long long t0 = now_ns();
    for (long i = 0; i < pairs; i++) {
      if (op(id, 0, -1, IPC_NOWAIT) != 0 || op(id, 0, 1, IPC_NOWAIT) != 0) {
        perror("sem_pingpong uncontended");
        return 2;
      }
    }
    long long ns = now_ns() - t0;
    semctl(id, 0, IPC_RMID);
    printf("{\"pairs\":%ld,\"ns\":%lld}\n", pairs, ns);
    return 0;
  }
  if (argc < 3 || strcmp(argv[1], "self") != 0) {
    fprintf(stderr, "usage: %s self ROUNDS [WARMUP] [MAX_MS] [CHILD_CPU] | pong ID | uncontended PAIRS\n",
            argv[0]);
    return 1;
  }
  struct round_trips r = round_trip_args(argc, argv);
  int id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
  if (id < 0) {
    perror("semget");
    return 2;
  }
  pid_t pid = fork_pinned(r.child_cpu);
  if (pid < 0) {
    perror("fork");
    semctl(id, 0, IPC_RMID);
    return 2;
  }
  if (pid == 0) {
    _exit(pong(id));
  }
  long long ns = 0;
  long done = time_round_trips(&r, round_trip, &id, &ns);
  if (done < 0) perror("sem_pingpong: round trip");
  semctl(id, 0, IPC_RMID); /* the child's P(0) fails with EIDRM: it exits */
  int st;
  waitpid(pid, &st, 0);
  if (done < 0) return 2;
  printf("{\"rounds\":%ld,\"ns\":%lld}\n", done, ns);
  return 0;
}
