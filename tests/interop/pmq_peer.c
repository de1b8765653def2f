/* A C peer for tests/pmq_test.ts, with the plain POSIX calls.
 *
 *   pmq_peer send NAME COUNT   mq_send COUNT messages "c:<i>" with priority i % 4
 *   pmq_peer recv NAME COUNT   mq_receive COUNT messages, print "<priority> <text>"
 *                              each, then "done"
 *
 * alarm(10) ends it if a test goes wrong.
 */
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: pmq_peer send|recv NAME COUNT\n"); return 2; }
  int count = atoi(argv[3]);
  int sending = strcmp(argv[1], "send") == 0;
  alarm(10);
  mqd_t q = mq_open(argv[2], sending ? O_WRONLY : O_RDONLY);
  if (q == (mqd_t)-1) { perror("mq_open"); return 1; }
  struct mq_attr attr;
  mq_getattr(q, &attr);
  char *buf = malloc(attr.mq_msgsize + 1);
  for (int i = 0; i < count; i++) {
    if (sending) {
      int n = snprintf(buf, attr.mq_msgsize, "c:%d", i);
      if (mq_send(q, buf, n, i % 4) < 0) { perror("mq_send"); return 1; }
    } else {
      unsigned prio;
      ssize_t n = mq_receive(q, buf, attr.mq_msgsize, &prio);
      if (n < 0) { perror("mq_receive"); return 1; }
      buf[n] = 0;
      printf("%u %s\n", prio, buf);
    }
  }
  printf(sending ? "sent\n" : "done\n");
  mq_close(q);
  return 0;
}
