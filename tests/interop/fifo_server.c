/* The seed's named-pipe server (server.c), kept faithful: it creates
 * ./myfifo (0644) in its working directory, opens it O_RDWR and prints every
 * message it reads. Two changes make it testable: stdout is line-buffered so
 * a test sees each line as it is printed, and the read result is checked
 * (the seed indexes buf[-1] when read fails). It runs until killed, as in the
 * seed. Build: cc -o fifo_server fifo_server.c */
#include <stdio.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <fcntl.h>

int main()
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  if(mkfifo("./myfifo",0644)<0)
  {
    perror("mkfifo");
    return 1;
  }
  int fd=open("myfifo",O_RDWR);
  if(fd<0)
  {
    perror("open");
    return 2;
  }
  while(1)
  {
    char buf[128];
    ssize_t num=read(fd,buf,sizeof(buf)-1);
    if(num<=0) continue;
    buf[num]='\0';
    printf("server has got the msg:%s\n",buf);
    sleep(1);
  }
  return 0;
}
