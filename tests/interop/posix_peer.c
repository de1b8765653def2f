/* posix_peer: a C peer for the POSIX shared memory and semaphore tests,
 * using shm_open/mmap and sem_open/sem_init/sem_wait/sem_post as any C
 * program would.
 *
 *   posix_peer shm-create NAME SIZE TEXT   create (0600), set the size, write TEXT\0 at 0
 *   posix_peer shm-write NAME TEXT          open, print the string at 0, write TEXT\0 at 64
 *   posix_peer sem-post NAME N [USEC [EVERY PAUSE]]
 *                                           sem_post N times (sleeping USEC µs before each);
 *                                           after every EVERY posts, wait until the value is
 *                                           back to 0 (all taken), then PAUSE µs more — or,
 *                                           with PAUSE "go", until a line arrives on stdin
 *   posix_peer sem-wait NAME N              sem_wait N times, print "done"
 *   posix_peer sem-pong A B ROUNDS          ROUNDS times: sem_wait(A), sem_post(B)
 *   posix_peer shm-sem-init NAME OFF VALUE  sem_init(pshared 1) inside the memory at OFF
 *   posix_peer shm-sem-add NAME SEMOFF COUNTEROFF TIMES
 *                                           TIMES times: sem_wait, read the int at
 *                                           COUNTEROFF, yield, write it + 1, sem_post
 *
 * Exit 1 on a usage error, 2 if a call fails (the message names it).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what) {
  perror(what);
  exit(2);
}

static char *map_named(const char *name, size_t *size) {
  int fd = shm_open(name, O_RDWR, 0);
  if (fd < 0) die("shm_open");
  struct stat st;
  if (fstat(fd, &st) < 0) die("fstat");
  char *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die("mmap");
  close(fd);
  *size = st.st_size;
  return p;
}

static sem_t *open_sem(const char *name) {
  sem_t *s = sem_open(name, 0);
  if (s == SEM_FAILED) die("sem_open");
  return s;
}

int main(int argc, char **argv) {
  if (argc < 3) return 1;
  const char *mode = argv[1];
  size_t size;
  if (!strcmp(mode, "shm-create") && argc == 5) {
    int fd = shm_open(argv[2], O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) die("shm_open");
    size = strtoul(argv[3], NULL, 10);
    if (ftruncate(fd, size) < 0) die("ftruncate");
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    strcpy(p, argv[4]);
    printf("created\n");
  } else if (!strcmp(mode, "shm-write") && argc == 4) {
    char *p = map_named(argv[2], &size);
    printf("%s\n", p);
    strcpy(p + 64, argv[3]);
  } else if (!strcmp(mode, "sem-post") && (argc == 4 || argc == 5 || argc == 7)) {
    sem_t *s = open_sem(argv[2]);
    int pause = argc >= 5 ? atoi(argv[4]) : 0;
    int every = argc == 7 ? atoi(argv[5]) : 0, dry = argc == 7 ? atoi(argv[6]) : 0;
    int go = argc == 7 && !strcmp(argv[6], "go");
    int n = atoi(argv[3]);
    for (int i = 1; i <= n; i++) {
      if (pause > 0) usleep(pause);
      if (sem_post(s) < 0) die("sem_post");
      if (every > 0 && i % every == 0) {
        // Let it run dry, however slow the taker is: its waits then park.
        int value;
        do {
          usleep(100);
          if (sem_getvalue(s, &value) < 0) die("sem_getvalue");
        } while (value > 0);
        if (go) {
          char line[16];
          if (!fgets(line, sizeof line, stdin)) go = 0; // the test is done pacing us
        } else {
          usleep(dry);
        }
      }
    }
    printf("posted\n");
  } else if (!strcmp(mode, "sem-wait") && argc == 4) {
    sem_t *s = open_sem(argv[2]);
    for (int i = atoi(argv[3]); i > 0; i--)
      if (sem_wait(s) < 0) die("sem_wait");
    printf("done\n");
  } else if (!strcmp(mode, "sem-pong") && argc == 5) {
    sem_t *a = open_sem(argv[2]), *b = open_sem(argv[3]);
    for (int i = atoi(argv[4]); i > 0; i--) {
      if (sem_wait(a) < 0) die("sem_wait");
      if (sem_post(b) < 0) die("sem_post");
    }
    printf("done\n");
  } else if (!strcmp(mode, "shm-sem-init") && argc == 5) {
    char *p = map_named(argv[2], &size);
    if (sem_init((sem_t *)(p + atoi(argv[3])), 1, atoi(argv[4])) < 0) die("sem_init");
    printf("ok\n");
  } else if (!strcmp(mode, "shm-sem-add") && argc == 6) {
    char *p = map_named(argv[2], &size);
    sem_t *s = (sem_t *)(p + atoi(argv[3]));
    volatile int *counter = (int *)(p + atoi(argv[4]));
    for (int i = atoi(argv[5]); i > 0; i--) {
      if (sem_wait(s) < 0) die("sem_wait");
      int v = *counter;
      sched_yield();
      *counter = v + 1;
      if (sem_post(s) < 0) die("sem_post");
    }
    printf("added\n");
  } else {
    return 1;
  }
  fflush(stdout);
  return 0;
}
