#ifndef SECRETFS_CFUSE3_SHIM_H
#define SECRETFS_CFUSE3_SHIM_H
// libfuse3 requires FUSE_USE_VERSION before its headers; Swift cannot define it.
#define FUSE_USE_VERSION 314
#include <fuse3/fuse_lowlevel.h>
#include <sys/prctl.h>

// prctl is variadic; PR_SET_DUMPABLE keeps other processes of the same user from attaching or reading memory.
static inline int secretfs_set_undumpable(void) {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
#endif
