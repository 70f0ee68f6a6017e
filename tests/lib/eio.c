/* actuator_write wrapped for the tests: EIO on demand (see eio.h). */
#include <errno.h>
#include <string.h>

#include "eio.h"

const char *eio_match;

int __real_actuator_write(const char *base, const char *rel, const char *value);
int __wrap_actuator_write(const char *base, const char *rel, const char *value);
int __wrap_actuator_write(const char *base, const char *rel, const char *value) {
        if (eio_match && strstr(rel, eio_match))
                return -EIO;
        return __real_actuator_write(base, rel, value);
}
