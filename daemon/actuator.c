/* Plumbing the actuators share. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "actuator.h"
#include "kfile.h"
#include "macro.h"

int actuator_write(const char *base, const char *rel, const char *value) {
        _cleanup_free_ char *path = NULL;
        int r = kfile_path(base, rel, &path);
        if (r < 0)
                return r;
        _cleanup_fclose_ FILE *f = fopen(path, "we");
        if (!f)
                return -errno;
        if (fputs(value, f) < 0 || fflush(f) != 0)
                return -errno;
        return 0;
}

int actuator_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return r;
}
