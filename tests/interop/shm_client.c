/* The seed's shared-memory client (client.c), kept faithful: ftok(PATH, 1),
 * shmget(key, 4097, IPC_CREAT) (which, as in the seed, would create a
 * mode-000 segment if no server ran first), shmat, then write one more
 * letter per interval: "A", "AB", "ABC", ... Changes, each needed to test it:
 *  - PATH comes from argv[1] or $SHM_PATH (see shm_comm.h), not /home/ck/...;
 *  - stdout is line-buffered (it prints nothing, as in the seed, but a test
 *    may read it);
 *  - the endless while(1) runs COUNT times (argv[2], default 5) with an
 *    INTERVAL_MS pause (argv[3], default 1000: the seed's sleep(1)), so the
 *    seed's shmdt after the loop is finally reached.
 * Build: cc -o shm_client shm_client.c */
#include "shm_comm.h"

int main(int argc, char *argv[])
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *PATH = shm_path(argc, argv);
  long count = shm_arg(argc, argv, 2, 5);
  long interval_ms = shm_arg(argc, argv, 3, 1000);
  //生成key值
  key_t key=ftok(PATH,1); 
  //获取这块内存的shmid
  int shmid=shmget(key,4097,IPC_CREAT);
  if(shmid<0)
  {
    perror("shmget");
    return 1;
  }
  //绑定这块内存并拿到地址
  char* start=(char*)shmat(shmid,NULL,0);
  if(start==(char*)-1)
  {
    perror("shmat");
    return 2;
  }
  //TODO 每隔1s写入一个字符
  int cnt=0;
  while(cnt<count)
  {
    start[cnt]='A'+cnt;
    cnt++;
    start[cnt]='\0';
    usleep(interval_ms*1000);
  }
  //与这块内存去关联
  shmdt(start);

  return 0;
}
