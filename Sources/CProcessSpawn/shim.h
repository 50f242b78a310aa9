#ifndef SECRETFS_CPROCESSSPAWN_SHIM_H
#define SECRETFS_CPROCESSSPAWN_SHIM_H
#include <spawn.h>

// glibc (2.34+) declares its closefrom action only under __USE_GNU, which Swift's Glibc module
// lacks (and defining _GNU_SOURCE here would give fd_set another shape than Glibc's).
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int lowest);

// Likewise its chdir action (glibc 2.29+).
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *__restrict actions, const char *__restrict path);
#endif
