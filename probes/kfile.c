/* Reading small kernel files (sysfs, procfs) below a root prefix. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kfile.h"
#include "macro.h"

#define KFILE_MAX (1024 * 1024)

int kfile_path(const char *base, const char *rel, char **ret_path) {
        while (*rel == '/')
                rel++;
        if (asprintf(ret_path, "%s/%s", base, rel) < 0)
                return -ENOMEM;
        return 0;
}

int kfile_read(const char *base, const char *rel, char **ret_text) {
        _cleanup_free_ char *path = NULL;
        int r = kfile_path(base, rel, &path);
        if (r < 0)
                return r;

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        /* sysfs files report size 4096 whatever they hold, so read until EOF. */
        size_t size = 0, alloc = 4096;
        _cleanup_free_ char *buf = malloc(alloc);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (size + 1 >= alloc) {
                        if (alloc >= KFILE_MAX)
                                return -EFBIG;
                        char *n = realloc(buf, alloc * 2);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        alloc *= 2;
                }
                ssize_t k = read(fd, buf + size, alloc - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        buf[size] = '\0';
        *ret_text = TAKE_PTR(buf);
        return 0;
}

int kfile_parse_u64(const char *s, uint64_t *ret_value) {
        while (isspace((unsigned char) *s))
                s++;
        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        while (isspace((unsigned char) *end))
                end++;
        if (*end)
                return -EINVAL;
        *ret_value = v;
        return 0;
}

int kfile_read_u64(const char *base, const char *rel, uint64_t *ret_value) {
        _cleanup_free_ char *s = NULL;
        int r = kfile_read(base, rel, &s);
        if (r < 0)
                return r;
        return kfile_parse_u64(s, ret_value);
}

int kfile_parse_choice(const char *s, char *buf, size_t len) {
        const char *open = strchr(s, '['), *start = s, *end;
        if (open) {
                start = open + 1;
                end = strchr(start, ']');
                if (!end)
                        return -EINVAL;
        } else {
                while (isspace((unsigned char) *start))
                        start++;
                end = start + strlen(start);
                while (end > start && isspace((unsigned char) end[-1]))
                        end--;
        }
        size_t n = (size_t) (end - start);
        if (n == 0 || n >= len)
                return -EINVAL;
        memcpy(buf, start, n);
        buf[n] = '\0';
        return 0;
}
