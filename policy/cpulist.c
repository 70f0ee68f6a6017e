/* Kernel CPU-list syntax, parsed strictly so a config error can say why. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "cpulist.h"
#include "macro.h"

static int parse_number(const char **p, unsigned *ret_value, const char **ret_reason) {
        if (!isdigit((unsigned char) **p)) {
                *ret_reason = "expected a CPU number";
                return -EINVAL;
        }
        unsigned long v = 0;
        while (isdigit((unsigned char) **p)) {
                v = v * 10 + (unsigned long) (**p - '0');
                if (v > CPULIST_MAX_CPU) {
                        *ret_reason = "CPU number too large";
                        return -EINVAL;
                }
                (*p)++;
        }
        *ret_value = (unsigned) v;
        return 0;
}

static int parse_list(const char *s, bool allow_exclude, hwloc_bitmap_t *ret_set, const char **ret_reason) {
        _cleanup_bitmap_ hwloc_bitmap_t set = hwloc_bitmap_alloc();
        if (!set)
                return -ENOMEM;

        const char *p = s;
        while (isspace((unsigned char) *p))
                p++;
        if (!*p) {
                *ret_reason = "empty CPU list";
                return -EINVAL;
        }
        for (;;) {
                unsigned lo, hi;
                bool exclude = allow_exclude && *p == '^';
                if (exclude)
                        p++;
                int r = parse_number(&p, &lo, ret_reason);
                if (r < 0)
                        return r;
                hi = lo;
                if (*p == '-') {
                        p++;
                        r = parse_number(&p, &hi, ret_reason);
                        if (r < 0)
                                return r;
                        if (hi < lo) {
                                *ret_reason = "range runs backwards";
                                return -EINVAL;
                        }
                }
                if (exclude)
                        hwloc_bitmap_clr_range(set, lo, (int) hi);
                else
                        hwloc_bitmap_set_range(set, lo, (int) hi);
                while (isspace((unsigned char) *p))
                        p++;
                if (!*p)
                        break;
                if (*p != ',') {
                        *ret_reason = "expected ',' or '-'";
                        return -EINVAL;
                }
                p++;
                while (isspace((unsigned char) *p)) /* "0, 2" as people write it */
                        p++;
        }
        *ret_set = TAKE_PTR(set);
        return 0;
}

int cpulist_parse(const char *s, hwloc_bitmap_t *ret_set, const char **ret_reason) {
        return parse_list(s, false, ret_set, ret_reason);
}

int cpulist_parse_libvirt(const char *s, hwloc_bitmap_t *ret_set, const char **ret_reason) {
        return parse_list(s, true, ret_set, ret_reason);
}

char *cpulist_format(hwloc_const_bitmap_t set) {
        char *s = NULL;
        if (hwloc_bitmap_iszero(set))
                return calloc(1, 1);
        if (hwloc_bitmap_list_asprintf(&s, set) < 0)
                return NULL;
        return s;
}
