#ifndef SECRETFS_CFUSE3_SHIM_H
#define SECRETFS_CFUSE3_SHIM_H
// libfuse3 requires FUSE_USE_VERSION before its headers; Swift cannot define it.
#define FUSE_USE_VERSION 314
#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h>
#include <sys/xattr.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#endif
