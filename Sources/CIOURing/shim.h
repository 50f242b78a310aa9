#ifndef SECRETFS_CIOURING_SHIM_H
#define SECRETFS_CIOURING_SHIM_H
// io_uring's system calls and FUSE's io_uring protocol, for what Swift cannot import: the
// calls have no C library wrappers (and syscall(2) is variadic), the ring indices need
// acquire/release ordering, and a submission entry is a union Swift cannot fill.
#include <linux/fuse.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static inline int secretfs_io_uring_setup(unsigned entries, struct io_uring_params *params) {
    return (int)syscall(__NR_io_uring_setup, entries, params);
}

static inline int secretfs_io_uring_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
    return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, (void *)0, (size_t)0);
}

// A ring queue's threads run on its CPU. The system call directly: glibc declares
// sched_setaffinity and CPU_SET only under _GNU_SOURCE, which would make this module's view of
// the C library's types differ from CFuse3's.
static inline int secretfs_pin_thread_to_cpu(int cpu) {
    unsigned long mask[16] = {0};
    if (cpu < 0 || cpu >= (int)(sizeof(mask) * 8)) return -1;
    mask[cpu / (8 * sizeof(unsigned long))] = 1UL << (cpu % (8 * sizeof(unsigned long)));
    return (int)syscall(__NR_sched_setaffinity, 0, sizeof(mask), mask);
}

// The kernel reads and writes the ring indices concurrently.
static inline unsigned secretfs_ring_load_acquire(const unsigned *index) {
    return __atomic_load_n(index, __ATOMIC_ACQUIRE);
}
static inline void secretfs_ring_store_release(unsigned *index, unsigned value) {
    __atomic_store_n(index, value, __ATOMIC_RELEASE);
}

// FUSE over io_uring (Linux 6.14, FUSE protocol 7.42) is newer than the C library's <linux/fuse.h>.
#define SECRETFS_FUSE_INIT_EXT (1u << 30)
// FUSE_OVER_IO_URING is bit 41 of the 64-bit INIT flags: bit 9 of `flags2`.
#define SECRETFS_FUSE_OVER_IO_URING_FLAGS2 (1u << 9)
#define SECRETFS_FUSE_IO_URING_CMD_REGISTER 1u
#define SECRETFS_FUSE_IO_URING_CMD_COMMIT_AND_FETCH 2u

/// What the kernel and the daemon exchange per request besides the headers.
struct secretfs_fuse_uring_ent_in_out {
    uint64_t flags;
    /// The request's unique id, which the commit names.
    uint64_t commit_id;
    /// Bytes used in the payload buffer.
    uint32_t payload_sz;
    uint32_t padding;
    uint64_t reserved;
};

/// A ring entry's header buffer.
struct secretfs_fuse_uring_req_header {
    /// `fuse_in_header` of a request, `fuse_out_header` of its reply.
    char in_out[128];
    /// The request's first argument (its per-operation header).
    char op_in[128];
    struct secretfs_fuse_uring_ent_in_out ring_ent_in_out;
};

struct secretfs_fuse_uring_cmd_req {
    uint64_t flags;
    uint64_t commit_id;
    uint16_t qid;
    uint8_t padding[6];
};

/// Fills a 128-byte submission entry with a FUSE ring command for queue `qid`: REGISTER passes the
/// entry's two buffers (`buffers` points at two iovecs), COMMIT_AND_FETCH names the request replied to.
static inline void secretfs_prepare_fuse_ring_command(void *entry, int fuse_fd, unsigned command, uint64_t user_data,
                                                      const struct iovec *buffers, uint16_t qid, uint64_t commit_id) {
    struct io_uring_sqe *sqe = (struct io_uring_sqe *)entry;
    memset(sqe, 0, 128);
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = fuse_fd;
    sqe->cmd_op = command;
    sqe->user_data = user_data;
    if (buffers != NULL) {
        sqe->addr = (uint64_t)(uintptr_t)buffers;
        sqe->len = 2;
    }
    struct secretfs_fuse_uring_cmd_req *request = (struct secretfs_fuse_uring_cmd_req *)sqe->cmd;
    request->qid = qid;
    request->commit_id = commit_id;
}
#endif
