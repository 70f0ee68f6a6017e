/* Test-only crash points: a build configured with -DKVMTUNED_CRASH_POINTS=ON kills itself with
 * SIGKILL at the point the environment's KVMTUNED_CRASH_AT names, so tests can check what a
 * kill -9 at each step of the pipeline leaves behind. In any other build they are nothing. */
#pragma once

#ifdef KVMTUNED_CRASH_POINTS
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static inline void crash_point(const char *name) {
        const char *at = getenv("KVMTUNED_CRASH_AT");
        if (at && strcmp(at, name) == 0)
                raise(SIGKILL);
}
#else
static inline void crash_point(const char *name) {
        (void) name;
}
#endif
