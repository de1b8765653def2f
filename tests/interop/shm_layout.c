/* Prints where glibc puts the fields of struct shmid_ds that
 * shm/_sys.ts (SHMID_DS) decodes, measured with offsetof(), and the flag
 * values it uses, as one JSON object. tests/shm_test.ts compares.
 * Build: cc -o shm_layout shm_layout.c */
#include <stdio.h>
#include <stddef.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/mman.h>
#include <unistd.h>

#define F(name, field) printf("\"%s\":%zu,", name, offsetof(struct shmid_ds, field))

int main(void)
{
  printf("{");
  F("KEY", shm_perm.__key);
  F("UID", shm_perm.uid);
  F("GID", shm_perm.gid);
  F("CUID", shm_perm.cuid);
  F("CGID", shm_perm.cgid);
  F("MODE", shm_perm.mode);
  F("SEGSZ", shm_segsz);
  F("ATIME", shm_atime);
  F("DTIME", shm_dtime);
  F("CTIME", shm_ctime);
  F("CPID", shm_cpid);
  F("LPID", shm_lpid);
  F("NATTCH", shm_nattch);
  printf("\"BYTES\":%zu,", sizeof(struct shmid_ds));
  printf("\"sizes\":{\"segsz\":%zu,\"time\":%zu,\"pid\":%zu,\"nattch\":%zu,\"mode\":%zu},",
         sizeof(((struct shmid_ds *)0)->shm_segsz), sizeof(((struct shmid_ds *)0)->shm_atime),
         sizeof(((struct shmid_ds *)0)->shm_cpid), sizeof(((struct shmid_ds *)0)->shm_nattch),
         sizeof(((struct shmid_ds *)0)->shm_perm.mode));
  printf("\"flags\":{\"IPC_CREAT\":%d,\"IPC_EXCL\":%d,\"IPC_RMID\":%d,\"IPC_STAT\":%d,"
         "\"SHM_RDONLY\":%d,\"SHM_DEST\":%d,\"SHM_LOCKED\":%d,\"PROT_READ\":%d,\"PROT_WRITE\":%d,"
         "\"MAP_PRIVATE\":%d,\"MAP_FIXED\":%d,\"MAP_ANONYMOUS\":%d,\"SC_PAGESIZE\":%d}}\n",
         IPC_CREAT, IPC_EXCL, IPC_RMID, IPC_STAT, SHM_RDONLY, SHM_DEST, SHM_LOCKED, PROT_READ,
         PROT_WRITE, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, _SC_PAGESIZE);
  return 0;
}
