/* The seed's shared-memory server (server.c), kept faithful: ftok(PATH, 1),
 * shmget(key, 4097, IPC_CREAT|IPC_EXCL|0644), shmat, then print the string
 * in the segment once per interval. Changes, each needed to test it:
 *  - PATH comes from argv[1] or $SHM_PATH (see shm_comm.h), not /home/ck/...;
 *  - stdout is line-buffered, so a test sees each line as it is printed;
 *  - the endless while(1) runs COUNT times (argv[2], default 30) with an
 *    INTERVAL_MS pause (argv[3], default 1000: the seed's sleep(1)), so the
 *    seed's shmdt + shmctl(IPC_RMID) after the loop are finally reached.
 * Build: cc -o shm_server shm_server.c */
#include"shm_comm.h"

int main(int argc, char *argv[])
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *PATH = shm_path(argc, argv);
  long count = shm_arg(argc, argv, 2, 30);
  long interval_ms = shm_arg(argc, argv, 3, 1000);
  //生成key值
  key_t key=ftok(PATH,1); 
   //创建共享牛才能
  int shmid=shmget(key,4097,IPC_CREAT|IPC_EXCL|0644);
  if(shmid<0)
  {
    perror("shmget");
    return 1;
  }
   //与进程绑定并拿到地址
  char* start=(char*)shmat(shmid,NULL,0);
  if(start==(char*)-1)
  {
    perror("shmat");
    return 2;
  }
  //TODO 每隔一秒读一次
  int cnt=0;
  while(cnt<count)
  {
    printf("%s\n",start);
    cnt++;
    usleep(interval_ms*1000);
  }

//与这块共享内存段去关联
  shmdt(start);
//释放掉这块内存
  shmctl(shmid,IPC_RMID,NULL);


  return 0;
}
