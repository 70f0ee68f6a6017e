/* Kernel CPU-list syntax ("0-3,8,10-11"), parsed strictly so a config error can say why. */
#pragma once

#include <hwloc.h>

/* The largest CPU number a list may name (Linux NR_CPUS tops out at 8192). */
#define CPULIST_MAX_CPU 65535

/* Parses s into a new bitmap in *ret_set. Returns 0, or -EINVAL with a static reason in
 * *ret_reason ("empty list", "range 5-3 runs backwards", ...), or -ENOMEM. */
int cpulist_parse(const char *s, hwloc_bitmap_t *ret_set, const char **ret_reason);

/* The same for libvirt's cpuset syntax, which adds exclusions: "0-7,^3" is 0-2,4-7. */
int cpulist_parse_libvirt(const char *s, hwloc_bitmap_t *ret_set, const char **ret_reason);

/* Formats set in kernel syntax into a malloc'd string ("" for the empty set); NULL on ENOMEM. */
char *cpulist_format(hwloc_const_bitmap_t set);
