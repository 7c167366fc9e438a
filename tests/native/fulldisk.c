/* A full disk, simulated for one process tree (LD_PRELOAD): once FULL_DISK_AFTER bytes have been
 * written to files under the folder FULL_DISK_UNDER, every further write to a file there fails
 * with ENOSPC ("No space left on device"), as on a disk that filled up. Writes elsewhere (pipes,
 * the terminal, other folders) go through. It wraps write, pwrite, pwrite64 and writev: what
 * Python's files, numpy, PIL and PyTorch's C++ writer end up calling. Built by tests/test_pipeline.py. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long long budget = -1;
static const char *under;
static size_t under_len;
static int ready;

static void init(void) {
    if (ready) return;
    ready = 1;
    const char *after = getenv("FULL_DISK_AFTER");
    under = getenv("FULL_DISK_UNDER");
    if (after && under) {
        budget = atoll(after);
        under_len = strlen(under);
    }
}

static int watched(int fd) {
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) return 0;
    path[n] = 0;
    return strncmp(path, under, under_len) == 0;
}

/* 1: the write must fail (errno set); 0: let it through. */
static int full(int fd, size_t n) {
    init();
    if (budget < 0 || !watched(fd)) return 0;
    if ((long long)n > budget) {
        budget = 0;
        errno = ENOSPC;
        return 1;
    }
    budget -= (long long)n;
    return 0;
}

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
#define REAL(name, type) static type real_##name; if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n) {
    REAL(write, write_fn);
    return full(fd, n) ? -1 : real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite, pwrite_fn);
    return full(fd, n) ? -1 : real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite64, pwrite_fn);
    return full(fd, n) ? -1 : real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
    REAL(writev, writev_fn);
    size_t n = 0;
    for (int i = 0; i < count; i++) n += iov[i].iov_len;
    return full(fd, n) ? -1 : real_writev(fd, iov, count);
}
