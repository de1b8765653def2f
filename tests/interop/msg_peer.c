/* A C peer for tests/msg_test.ts, with the plain System V calls.
 *
 *   msg_peer send ID COUNT   msgsnd COUNT messages: type (i % 5) + 1, text "c:<i>"
 *   msg_peer recv ID COUNT   msgrcv COUNT messages with msgtyp -5 (lowest type
 *                            first), print "<type> <text>" each, then "done"
 *
 * alarm(10) ends it if a test goes wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <unistd.h>

struct msg { long mtype; char mtext[64]; };

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: msg_peer send|recv ID COUNT\n"); return 2; }
  int id = atoi(argv[2]), count = atoi(argv[3]);
  struct msg m;
  alarm(10);
  if (strcmp(argv[1], "send") == 0) {
    for (int i = 0; i < count; i++) {
      m.mtype = (i % 5) + 1;
      int n = snprintf(m.mtext, sizeof m.mtext, "c:%d", i);
      if (msgsnd(id, &m, n, 0) < 0) { perror("msgsnd"); return 1; }
    }
    printf("sent\n");
  } else {
    for (int i = 0; i < count; i++) {
      ssize_t n = msgrcv(id, &m, sizeof m.mtext - 1, -5, 0);
      if (n < 0) { perror("msgrcv"); return 1; }
      m.mtext[n] = 0;
      printf("%ld %s\n", m.mtype, m.mtext);
    }
    printf("done\n");
  }
  return 0;
}
