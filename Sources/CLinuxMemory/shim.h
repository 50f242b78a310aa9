#ifndef SECRETFS_CLINUXMEMORY_SHIM_H
#define SECRETFS_CLINUXMEMORY_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/mman.h>

// mremap is variadic, which Swift cannot call; this is the one form SecureBytes uses.
static inline void *secretfs_mremap_may_move(void *address, size_t old_size, size_t new_size) {
    return mremap(address, old_size, new_size, MREMAP_MAYMOVE);
}

// mlock2 with MLOCK_ONFAULT locks pages as they are touched instead of faulting them all in now.
static inline int secretfs_mlock_on_fault(const void *address, size_t length) {
    return mlock2(address, length, MLOCK_ONFAULT);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
// MADV_POPULATE_WRITE (Linux 5.14) is newer than some C libraries' headers.
static inline int secretfs_madv_populate_write(void) { return MADV_POPULATE_WRITE; }

// Loads from memory another process writes (a shared mapping): atomic, and never cached by the compiler.
static inline unsigned int secretfs_load_acquire_u32(const void *address) {
    return __atomic_load_n((const unsigned int *)address, __ATOMIC_ACQUIRE);
}
static inline unsigned char secretfs_load_acquire_u8(const void *address) {
    return __atomic_load_n((const unsigned char *)address, __ATOMIC_ACQUIRE);
}
#endif
