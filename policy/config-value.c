/* Configuration values: one parser per kind (enum, bool, duration, ratio, page size, CPU list...). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"
#include "cpulist.h"
#include "listen.h"
#include "macro.h"

/* "a, b or c" from a NULL-terminated list, for "expected ..." messages. */
static void join_names(const char *const *names, char *buf, size_t len) {
        buf[0] = '\0';
        for (size_t i = 0; names[i]; i++) {
                const char *sep = i == 0 ? "" : names[i + 1] ? ", " : " or ";
                strncat(buf, sep, len - strlen(buf) - 1);
                strncat(buf, names[i], len - strlen(buf) - 1);
        }
}

int value_enum(ParseState *s, const KeyDef *k, const char *value, void *target) {
        const char *const *names = k->arg;
        for (int i = 0; names[i]; i++)
                if (strcmp(value, names[i]) == 0) {
                        *(int *) target = i;
                        return 0;
                }
        char expected[256];
        join_names(names, expected, sizeof(expected));
        return parse_error(s, "%s=%s: expected %s", k->name, value, expected);
}

int value_bool(ParseState *s, const KeyDef *k, const char *value, void *target) {
        static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcmp(value, yes[i]) == 0) {
                        *(bool *) target = true;
                        return 0;
                }
                if (strcmp(value, no[i]) == 0) {
                        *(bool *) target = false;
                        return 0;
                }
        }
        return parse_error(s, "%s=%s: expected yes or no", k->name, value);
}

static int set_string(ParseState *s, char **target, const char *value) {
        char *copy = value ? strdup(value) : NULL;
        if (value && !copy)
                return s->r = -ENOMEM;
        free(*target);
        *target = copy;
        return 0;
}

int value_string(ParseState *s, const KeyDef *k, const char *value, void *target) {
        if (!*value)
                return parse_error(s, "%s= needs a value", k->name);
        return set_string(s, target, value);
}

/* A governor name as cpufreq spells them, or "keep" (NULL). */
int value_governor(ParseState *s, const KeyDef *k, const char *value, void *target) {
        if (strcmp(value, "keep") == 0)
                return set_string(s, target, NULL);
        if (!*value || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(value))
                return parse_error(s, "%s=%s: expected keep or a cpufreq governor name (performance, schedutil, ...)",
                                   k->name, value);
        return set_string(s, target, value);
}

/* "off" or an address listen_parse() takes. */
int value_listen(ParseState *s, const KeyDef *k, const char *value, void *target) {
        if (strcmp(value, "off") == 0)
                return set_string(s, target, NULL);
        if (listen_parse(value, NULL) < 0)
                return parse_error(s, "%s=%s: expected off, ADDRESS:PORT (an IPv4 address or localhost) or [IPV6]:PORT",
                                   k->name, value);
        return set_string(s, target, value);
}

int value_duration(ParseState *s, const KeyDef *k, const char *value, void *target) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = { { "us", 1 },         { "ms", 1000 },    { "s", 1000000 },      { "", 1000000 },
                      { "min", 60000000 }, { "m", 60000000 }, { "h", 3600000000ULL } };
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        /* At least 100 ms (the only duration is StatsInterval: shorter passes would make the
         * collector a busy thread), at most a day. */
        if (end != value && errno == 0 && isfinite(v))
                for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                        double usec = v * (double) units[i].usec;
                        if (strcmp(end, units[i].suffix) == 0 && usec >= 100000 && usec <= 86400e6) {
                                *(uint64_t *) target = (uint64_t) usec;
                                return 0;
                        }
                }
        return parse_error(s, "%s=%s: expected a duration from 100ms to 24h, such as 5s, 500ms or 1min", k->name,
                           value);
}

static int value_number(ParseState *s, const KeyDef *k, const char *value, double lo, double hi, double *ret) {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end || errno != 0 || !isfinite(v) || v < lo || v > hi)
                return parse_error(s, "%s=%s: expected a number from %g to %g", k->name, value, lo, hi);
        *ret = v;
        return 0;
}

int value_percent(ParseState *s, const KeyDef *k, const char *value, void *target) {
        return value_number(s, k, value, 0, 100, target);
}

int value_ratio(ParseState *s, const KeyDef *k, const char *value, void *target) {
        return value_number(s, k, value, OVERCOMMIT_MIN, OVERCOMMIT_MAX, target);
}

/* keep, poll, or microseconds ("N" or "Nus"); 0 is refused: to the kernel it means no bound. */
int value_idle_latency(ParseState *s, const KeyDef *k, const char *value, void *target) {
        int *us = target;
        if (strcmp(value, "keep") == 0 || strcmp(value, "poll") == 0) {
                *us = value[0] == 'k' ? IDLE_LATENCY_KEEP : IDLE_LATENCY_POLL;
                return 0;
        }
        char *end;
        errno = 0;
        long v = isdigit((unsigned char) value[0]) ? strtol(value, &end, 10) : -1;
        if (v >= 0 && errno == 0 && strcmp(end, "us") == 0)
                end += 2;
        if (v < 0 || errno != 0 || *end || v > IDLE_LATENCY_MAX)
                return parse_error(s, "%s=%s: expected keep, poll, or a wake-up latency of 1 to %d microseconds",
                                   k->name, value, IDLE_LATENCY_MAX);
        if (v == 0)
                return parse_error(s, "%s=0: to the kernel 0 means no bound; say poll for no idle state, or keep",
                                   k->name);
        *us = (int) v;
        return 0;
}

int value_priority(ParseState *s, const KeyDef *k, const char *value, void *target) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (end == value || *end || errno != 0 || v < -1000000 || v > 1000000)
                return parse_error(s, "%s=%s: expected a whole number from -1000000 to 1000000", k->name, value);
        *(int *) target = (int) v;
        return 0;
}

/* The hugepage sizes (KiB) each architecture's kernel can offer, whatever one host lists:
 * x86 2M, and 1G with pdpe1gb; arm64 64K, 2M, 32M, 1G (4K base pages), 2M, 32M, 1G (16K) or
 * 2M, 512M, 16G (64K); POWER 16M, 16G (hash MMU) or 2M, 1G (radix); s390x 1M, 2G; RISC-V 64K
 * (Svnapot), 2M, 1G. Names as uname -m and hwloc's Architecture spell them. */
static const struct {
        const char *arch;
        uint64_t kib[7]; /* 0-terminated */
} arch_page_sizes[] = {
        { "x86_64", { 2048, 1048576 } },
        { "aarch64", { 64, 2048, 32768, 524288, 1048576, 16777216 } },
        { "ppc64", { 2048, 16384, 1048576, 16777216 } },
        { "ppc64le", { 2048, 16384, 1048576, 16777216 } },
        { "s390x", { 1024, 2097152 } },
        { "riscv64", { 64, 2048, 1048576 } },
};

/* 1: a host of architecture arch can have kib pages, 0: none can, -1: arch unknown. */
static int arch_has_page(const char *arch, uint64_t kib) {
        for (size_t i = 0; arch && i < ELEMENTSOF(arch_page_sizes); i++) {
                if (strcmp(arch, arch_page_sizes[i].arch) != 0)
                        continue;
                for (const uint64_t *k = arch_page_sizes[i].kib; *k; k++)
                        if (*k == kib)
                                return 1;
                return 0;
        }
        return -1;
}

/* The distinct hugepage sizes the host's nodes list, smallest first, as "2M, 1G" into buf;
 * returns how many there are and whether kib is one of them. */
static unsigned host_page_sizes(const Topology *t, uint64_t kib, bool *ret_has, char *buf, size_t len) {
        uint64_t sizes[16];
        unsigned n = 0;
        for (unsigned i = 0; i < t->n_nodes; i++)
                for (unsigned j = 0; j < t->nodes[i].n_hugepages; j++) {
                        uint64_t v = t->nodes[i].hugepages[j].page_kib;
                        unsigned k = 0;
                        while (k < n && sizes[k] < v)
                                k++;
                        if ((k < n && sizes[k] == v) || n == ELEMENTSOF(sizes))
                                continue;
                        memmove(&sizes[k + 1], &sizes[k], (n - k) * sizeof(uint64_t));
                        sizes[k] = v;
                        n++;
                }
        *ret_has = false;
        buf[0] = '\0';
        for (unsigned k = 0, used = 0; k < n && used < len; k++) {
                uint64_t v = sizes[k];
                *ret_has = *ret_has || v == kib;
                const char *unit = v % 1048576 == 0 ? "G" : v % 1024 == 0 ? "M" : "K";
                uint64_t shown = v % 1048576 == 0 ? v / 1048576 : v % 1024 == 0 ? v / 1024 : v;
                int w = snprintf(buf + used, len - used, "%s%" PRIu64 "%s", k ? ", " : "", shown, unit);
                used += w > 0 ? (unsigned) w : 0;
        }
        return n;
}

/* A size this host lists is fine. One it lacks but its architecture can have is a warning: a
 * fleet shares one policy.d, and such a domain cannot get those pages on this host only. A size
 * no host of the architecture has is an error. A host model that lists no sizes (synthetic,
 * CPUID-only) tells nothing to check against. */
static int check_page_size(ParseState *s, const KeyDef *k, const char *value, uint64_t kib) {
        char sizes[256];
        bool has;
        if (host_page_sizes(s->topology, kib, &has, sizes, sizeof(sizes)) == 0 || has)
                return 0;
        hwloc_topology_t topo = s->topology->hwloc;
        const char *arch = topo ? hwloc_obj_get_info_by_name(hwloc_get_root_obj(topo), "Architecture") : NULL;
        if (arch_has_page(arch, kib) == 0)
                return parse_error(s, "%s=%s: this host has no %s hugepages, and no %s host has them (its sizes: %s)",
                                   k->name, value, value, arch, sizes);
        config_warning_at(s, s->line,
                          "%s=%s: this host has no %s hugepages (its sizes: %s); domains of class '%s' that ask for "
                          "hugepages cannot get them here",
                          k->name, value, value, sizes, s->cls ? s->cls->name : "?");
        return 0;
}

/* "small", "any", or a power-of-two size with K, M or G suffix (binary units). */
int value_page_size(ParseState *s, const KeyDef *k, const char *value, void *target) {
        if (strcmp(value, "small") == 0 || strcmp(value, "any") == 0) {
                *(uint64_t *) target = value[0] == 's' ? PAGE_KIB_SMALL : PAGE_KIB_ANY;
                return 0;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        uint64_t kib = 0;
        if (end != value && errno == 0 && v > 0 && v < (1ULL << 30)) {
                if (strcmp(end, "K") == 0)
                        kib = v;
                else if (strcmp(end, "M") == 0)
                        kib = v * 1024;
                else if (strcmp(end, "G") == 0)
                        kib = v * 1024 * 1024;
        }
        if (kib == 0 || (kib & (kib - 1)) != 0)
                return parse_error(s, "%s=%s: expected small, any or a page size such as 2M or 1G", k->name, value);
        *(uint64_t *) target = kib;
        return check_page_size(s, k, value, kib);
}

/* Comma-separated words or globs, kept as a NULL-terminated array. */
int value_list(ParseState *s, const KeyDef *k, const char *value, void *target) {
        char ***list = target;
        size_t n = 0;
        for (char **p = *list; p && *p; p++)
                n++;
        _cleanup_free_ char *copy = strdup(value);
        if (!copy)
                return s->r = -ENOMEM;
        bool any = false;
        for (char *w, *rest = copy; (w = strsep(&rest, ","));) {
                while (isspace((unsigned char) *w))
                        w++;
                size_t len = strlen(w);
                while (len > 0 && isspace((unsigned char) w[len - 1]))
                        w[--len] = '\0';
                if (len == 0)
                        return parse_error(s, "%s=%s: empty entry in list", k->name, value);
                char **grown = realloc(*list, (n + 2) * sizeof(char *));
                if (!grown)
                        return s->r = -ENOMEM;
                *list = grown;
                if (!(grown[n] = strdup(w)))
                        return s->r = -ENOMEM;
                grown[++n] = NULL;
                any = true;
        }
        if (!any)
                return parse_error(s, "%s= needs at least one entry", k->name);
        return 0;
}

/* "auto" or a kernel CPU list of usable CPUs of this host. */
int value_cpus(ParseState *s, const KeyDef *k, const char *value, void *target) {
        hwloc_bitmap_t *set = target;
        bool *is_auto = (bool *) ((char *) target - k->offset + k->auto_flag);
        if (strcmp(value, "auto") == 0) {
                *is_auto = true;
                return 0;
        }
        hwloc_bitmap_t parsed = NULL;
        const char *reason = NULL;
        int r = cpulist_parse(value, &parsed, &reason);
        if (r == -ENOMEM)
                return s->r = r;
        if (r < 0)
                return parse_error(s, "%s=%s: %s; expected auto or a CPU list such as 0-3,8", k->name, value, reason);

        _cleanup_bitmap_ hwloc_bitmap_t outside = hwloc_bitmap_alloc();
        hwloc_bitmap_andnot(outside, parsed, s->topology->cpuset);
        if (!hwloc_bitmap_iszero(outside)) {
                _cleanup_free_ char *o = cpulist_format(outside), *u = cpulist_format(s->topology->cpuset);
                hwloc_bitmap_free(parsed);
                return parse_error(s, "%s=%s: CPU %s not usable on this host (usable CPUs: %s)", k->name, value,
                                   o ? o : "?", u ? u : "?");
        }
        hwloc_bitmap_free(*set);
        *set = parsed;
        *is_auto = false;
        return 0;
}