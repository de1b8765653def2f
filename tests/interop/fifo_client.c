/* The seed's named-pipe client (client.c), kept faithful: it opens ./myfifo
 * O_RDWR in its working directory and writes "hello world\n" once a second.
 * For tests, optional arguments bound it: argv[1] = number of messages
 * (default: forever, as in the seed), argv[2] = interval in ms (default 1000).
 * Build: cc -o fifo_client fifo_client.c */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <string.h>

int main(int argc, char **argv)
{
  long count = argc > 1 ? atol(argv[1]) : -1;
  long interval_ms = argc > 2 ? atol(argv[2]) : 1000;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int fd=open("myfifo",O_RDWR);
  if(fd<0)
  {
    perror("open");
    return 1;
  }
  while(count < 0 || count-- > 0)
  {
    const char* msg="hello world\n";
    write(fd,msg, strlen(msg));
    printf("client has wrote the msg!\n\n");
    usleep(interval_ms * 1000);
  }
  return 0;

}
