/* The seed's comm.h for its shared-memory demo (共享内存 server/client),
 * kept faithful except for one change: the seed hard-codes
 *   #define PATH "/home/ck/lesson18/shm_pipe"
 * a directory on the author's machine. Here PATH is the first command-line
 * argument, or else the SHM_PATH environment variable; ftok() needs it to
 * exist. shm_path() returns it or exits with a usage line. */
#pragma once 
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#define SIZE 4097

static const char *shm_path(int argc, char *argv[])
{
  const char *p = argc > 1 ? argv[1] : getenv("SHM_PATH");
  if (p == NULL) {
    fprintf(stderr, "usage: %s PATH [COUNT] [INTERVAL_MS]  (or set SHM_PATH)\n", argv[0]);
    exit(64);
  }
  return p;
}

/* COUNT (argv[2]) and INTERVAL_MS (argv[3]) bound the seed's endless loops. */
static long shm_arg(int argc, char *argv[], int i, long dflt)
{
  return argc > i ? atol(argv[i]) : dflt;
}
