/* kvmtuned.conf and policy.d/NAME.conf: parsing with inih, validation, FILE:LINE errors. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "housekeeping.h"
#include "cpulist.h"
#include "listen.h"
#include "macro.h"

/* inih (libinih1 as distributions build it) hands lines to its handler through a buffer of
 * INI_MAX_LINE = 200 bytes, fixed when the library is built: a longer MatchName= list could not
 * pass through it. So read_line() splits KEY=VALUE itself and calls handle_key() directly; inih
 * only drives the loop. A line is read into a buffer of CONFIG_LINE_MAX bytes and the rest of a
 * longer one is skipped unread (and reported). */
#define LINE_READ_MAX CONFIG_LINE_MAX

static const char *const cpu_policy_names[] = { "dedicated", "shared", "mixed", NULL };
static const char *const thread_policy_names[] = { "prefer", "isolate", "require", NULL };
static const char *const cache_locality_names[] = { "l3", "numa", "none", NULL };
static const char *const core_kind_names[] = { "performance", "efficiency", "any", NULL };
static const char *const helper_names[] = { "housekeeping", "isolate", "share", NULL };
static const char *const memory_policy_names[] = { "strict", "preferred", "interleave", "none", NULL };
static const char *const isolate_host_names[] = { "no", "when-dedicated", "always", NULL };
static const char *const thp_names[] = { "keep", "always", "madvise", "never", NULL };
static const char *const hugepages_names[] = { "on-demand", "keep", "off", NULL };
static const char *const irq_affinity_names[] = { "away-from-dedicated", "keep", NULL };
static const char *const numa_balancing_names[] = { "off-while-strict", "keep", NULL };
static const char *const ksm_names[] = { "keep", "off", "on", NULL };

const char *irq_affinity_to_string(IrqAffinity v) {
        return irq_affinity_names[v];
}
const char *numa_balancing_to_string(NumaBalancing v) {
        return numa_balancing_names[v];
}
const char *ksm_mode_to_string(KsmMode v) {
        return ksm_names[v];
}
const char *idle_latency_to_string(int us, char *buf, size_t len) {
        if (us == IDLE_LATENCY_KEEP)
                return "keep";
        if (us == IDLE_LATENCY_POLL)
                return "poll";
        snprintf(buf, len, "%d", us);
        return buf;
}

const char *cpu_policy_to_string(CpuPolicy v) {
        return cpu_policy_names[v];
}
const char *thread_policy_to_string(ThreadPolicy v) {
        return thread_policy_names[v];
}
const char *cache_locality_to_string(CacheLocality v) {
        return cache_locality_names[v];
}
const char *core_kind_to_string(CoreKind v) {
        return core_kind_names[v];
}
const char *helper_placement_to_string(HelperPlacement v) {
        return helper_names[v];
}
const char *memory_policy_to_string(MemoryPolicy v) {
        return memory_policy_names[v];
}

typedef enum SectionKind { SECTION_NONE, SECTION_SKIP, SECTION_DAEMON, SECTION_HOST, SECTION_CLASS } SectionKind;

typedef struct ParseState ParseState;
typedef struct KeyDef KeyDef;
typedef int (*ParseFn)(ParseState *s, const KeyDef *k, const char *value, void *target);

struct KeyDef {
        const char *name;
        ParseFn parse;
        size_t offset; /* into DaemonConfig, HostConfig or PolicyClass */
        const void *arg; /* enum names for parse_enum */
        size_t auto_flag; /* offset of the bool "was auto" for CPU lists, else 0 */
};

#define MAX_KEYS 16

struct ParseState {
        Config *config;
        ConfigErrors *errors;
        const Topology *topology;
        const char *file;
        FILE *stream;
        bool main_file;
        unsigned line;
        SectionKind kind;
        char section[LINE_READ_MAX + 1];
        PolicyClass *cls;
        unsigned key_lines[MAX_KEYS]; /* where each key of the current section was set, 0: not */
        unsigned host_lines[MAX_KEYS];
        size_t bytes; /* read of the current file */
        bool stopped; /* too many errors, or the file grew past CONFIG_FILE_MAX: read no further */
        int r; /* first -ENOMEM, reported after inih returns */
};

/* Appends one message to a list of errors or of warnings. */
__attribute__((format(printf, 5, 0))) static int messages_addv(ConfigError **items, size_t *n, const char *file,
                                                               unsigned line, const char *fmt, va_list ap) {
        ConfigError *grown = realloc(*items, (*n + 1) * sizeof(ConfigError));
        if (!grown)
                return -ENOMEM;
        *items = grown;
        ConfigError *e = &grown[*n];
        *e = (ConfigError){ .line = line };
        if (vasprintf(&e->message, fmt, ap) < 0)
                return -ENOMEM;
        if (file && !(e->file = strdup(file))) {
                free(e->message);
                return -ENOMEM;
        }
        (*n)++;
        return 0;
}

__attribute__((format(printf, 4, 0))) static int errors_addv(ConfigErrors *errors, const char *file, unsigned line,
                                                             const char *fmt, va_list ap) {
        return messages_addv(&errors->items, &errors->n, file, line, fmt, ap);
}

__attribute__((format(printf, 4, 5))) static int errors_add(ConfigErrors *errors, const char *file, unsigned line,
                                                            const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = errors_addv(errors, file, line, fmt, ap);
        va_end(ap);
        return r;
}

/* Records an error at the current line, up to CONFIG_ERRORS_MAX of them (then a last line says
 * so and reading stops); returns -EINVAL (or -ENOMEM) for the caller to pass on. */
__attribute__((format(printf, 3, 4))) static int error_at(ParseState *s, unsigned line, const char *fmt, ...) {
        int r = 0;
        if (s->errors->n >= CONFIG_ERRORS_MAX) {
                if (s->errors->n == CONFIG_ERRORS_MAX)
                        r = errors_add(s->errors, NULL, 0, "too many errors: the first %d are shown",
                                       CONFIG_ERRORS_MAX);
                s->stopped = true;
        } else {
                va_list ap;
                va_start(ap, fmt);
                r = errors_addv(s->errors, s->file, line, fmt, ap);
                va_end(ap);
        }
        if (r < 0)
                s->r = r;
        return r < 0 ? r : -EINVAL;
}

#define parse_error(s, ...) error_at(s, (s)->line, __VA_ARGS__)

/* Records a warning: what loads but cannot work on this host. Past CONFIG_ERRORS_MAX of them
 * the rest are dropped (they stop nothing, so nothing needs to say so). */
__attribute__((format(printf, 3, 4))) static void warning_at(ParseState *s, unsigned line, const char *fmt, ...) {
        if (s->config->n_warnings >= CONFIG_ERRORS_MAX)
                return;
        va_list ap;
        va_start(ap, fmt);
        int r = messages_addv(&s->config->warnings, &s->config->n_warnings, s->file, line, fmt, ap);
        va_end(ap);
        if (r < 0)
                s->r = r;
}

static void messages_free(ConfigError *items, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(items[i].file);
                free(items[i].message);
        }
        free(items);
}

void config_errors_clear(ConfigErrors *errors) {
        messages_free(errors->items, errors->n);
        *errors = (ConfigErrors){ 0 };
}

static char *messages_format(const ConfigError *items, size_t n, const char *prefix) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                const ConfigError *e = &items[i];
                if (e->file && e->line)
                        fprintf(f, "%s:%u: %s%s\n", e->file, e->line, prefix, e->message);
                else if (e->file)
                        fprintf(f, "%s: %s%s\n", e->file, prefix, e->message);
                else
                        fprintf(f, "%s%s\n", prefix, e->message);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

char *config_errors_format(const ConfigErrors *errors) {
        return messages_format(errors->items, errors->n, "");
}

char *config_warnings_format(const Config *c) {
        return messages_format(c->warnings, c->n_warnings, "warning: ");
}

/* "a, b or c" from a NULL-terminated list, for "expected ..." messages. */
static void join_names(const char *const *names, char *buf, size_t len) {
        buf[0] = '\0';
        for (size_t i = 0; names[i]; i++) {
                const char *sep = i == 0 ? "" : names[i + 1] ? ", " : " or ";
                strncat(buf, sep, len - strlen(buf) - 1);
                strncat(buf, names[i], len - strlen(buf) - 1);
        }
}

static int parse_enum(ParseState *s, const KeyDef *k, const char *value, void *target) {
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

static int parse_bool(ParseState *s, const KeyDef *k, const char *value, void *target) {
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

static int parse_string(ParseState *s, const KeyDef *k, const char *value, void *target) {
        if (!*value)
                return parse_error(s, "%s= needs a value", k->name);
        return set_string(s, target, value);
}

/* A governor name as cpufreq spells them, or "keep" (NULL). */
static int parse_governor(ParseState *s, const KeyDef *k, const char *value, void *target) {
        if (strcmp(value, "keep") == 0)
                return set_string(s, target, NULL);
        if (!*value || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(value))
                return parse_error(s, "%s=%s: expected keep or a cpufreq governor name (performance, schedutil, ...)",
                                   k->name, value);
        return set_string(s, target, value);
}

/* "off" or an address listen_parse() takes. */
static int parse_listen(ParseState *s, const KeyDef *k, const char *value, void *target) {
        if (strcmp(value, "off") == 0)
                return set_string(s, target, NULL);
        if (listen_parse(value, NULL) < 0)
                return parse_error(s, "%s=%s: expected off, ADDRESS:PORT (an IPv4 address or localhost) or [IPV6]:PORT",
                                   k->name, value);
        return set_string(s, target, value);
}

static int parse_duration(ParseState *s, const KeyDef *k, const char *value, void *target) {
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

static int parse_number(ParseState *s, const KeyDef *k, const char *value, double lo, double hi, double *ret) {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end || errno != 0 || !isfinite(v) || v < lo || v > hi)
                return parse_error(s, "%s=%s: expected a number from %g to %g", k->name, value, lo, hi);
        *ret = v;
        return 0;
}

static int parse_percent(ParseState *s, const KeyDef *k, const char *value, void *target) {
        return parse_number(s, k, value, 0, 100, target);
}

static int parse_ratio(ParseState *s, const KeyDef *k, const char *value, void *target) {
        return parse_number(s, k, value, OVERCOMMIT_MIN, OVERCOMMIT_MAX, target);
}

/* keep, poll, or microseconds ("N" or "Nus"); 0 is refused: to the kernel it means no bound. */
static int parse_idle_latency(ParseState *s, const KeyDef *k, const char *value, void *target) {
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
                return parse_error(s, "%s=%s: expected keep, poll, or a wake-up latency of 1 to %d microseconds", k->name,
                                   value, IDLE_LATENCY_MAX);
        if (v == 0)
                return parse_error(s, "%s=0: to the kernel 0 means no bound; say poll for no idle state, or keep",
                                   k->name);
        *us = (int) v;
        return 0;
}

static int parse_priority(ParseState *s, const KeyDef *k, const char *value, void *target) {
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
        warning_at(s, s->line,
                   "%s=%s: this host has no %s hugepages (its sizes: %s); domains of class '%s' that ask for "
                   "hugepages cannot get them here",
                   k->name, value, value, sizes, s->cls ? s->cls->name : "?");
        return 0;
}

/* "small", "any", or a power-of-two size with K, M or G suffix (binary units). */
static int parse_page_size(ParseState *s, const KeyDef *k, const char *value, void *target) {
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
static int parse_list(ParseState *s, const KeyDef *k, const char *value, void *target) {
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
static int parse_cpus(ParseState *s, const KeyDef *k, const char *value, void *target) {
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

#define D(f) offsetof(DaemonConfig, f)
#define H(f) offsetof(HostConfig, f)
#define C(f) offsetof(PolicyClass, f)

static const KeyDef daemon_keys[] = {
        { "URI", parse_string, D(uri), NULL, 0 },
        { "Metrics", parse_listen, D(metrics), NULL, 0 },
        { "StatsInterval", parse_duration, D(stats_interval_usec), NULL, 0 },
        { "StealWarnPercent", parse_percent, D(steal_warn_percent), NULL, 0 },
        { "RespectExplicitPins", parse_bool, D(respect_explicit_pins), NULL, 0 },
        { "DryRun", parse_bool, D(dry_run), NULL, 0 },
        { "HookFailOpen", parse_bool, D(hook_fail_open), NULL, 0 },
        {},
};

enum { HOST_KEY_HOUSEKEEPING, HOST_KEY_DEDICATED, HOST_KEY_SHARED };
static const KeyDef host_keys[] = {
        [HOST_KEY_HOUSEKEEPING] = { "HousekeepingCPUs", parse_cpus, H(housekeeping), NULL, H(housekeeping_auto) },
        [HOST_KEY_DEDICATED] = { "DedicatedCPUs", parse_cpus, H(dedicated), NULL, H(dedicated_auto) },
        [HOST_KEY_SHARED] = { "SharedCPUs", parse_cpus, H(shared), NULL, H(shared_auto) },
        { "IsolateHost", parse_enum, H(isolate_host), isolate_host_names, 0 },
        { "TransparentHugepages", parse_enum, H(thp), thp_names, 0 },
        { "GovernorDedicated", parse_governor, H(governor_dedicated), NULL, 0 },
        { "GovernorIdle", parse_governor, H(governor_idle), NULL, 0 },
        { "Hugepages", parse_enum, H(hugepages), hugepages_names, 0 },
        { "IRQAffinity", parse_enum, H(irq_affinity), irq_affinity_names, 0 },
        { "NumaBalancing", parse_enum, H(numa_balancing), numa_balancing_names, 0 },
        { "KSM", parse_enum, H(ksm), ksm_names, 0 },
        { "RestoreOnExit", parse_bool, H(restore_on_exit), NULL, 0 },
        {},
};

enum { CLASS_KEY_CPU_POLICY = 3, CLASS_KEY_THREAD_POLICY = 4, CLASS_KEY_OVERCOMMIT = 12, CLASS_KEY_IDLE_LATENCY = 13 };
static const KeyDef class_keys[] = {
        { "MatchName", parse_list, C(match_name), NULL, 0 },
        { "MatchMetadata", parse_list, C(match_metadata), NULL, 0 },
        { "Priority", parse_priority, C(priority), NULL, 0 },
        [CLASS_KEY_CPU_POLICY] = { "CPUPolicy", parse_enum, C(cpu_policy), cpu_policy_names, 0 },
        [CLASS_KEY_THREAD_POLICY] = { "ThreadPolicy", parse_enum, C(thread_policy), thread_policy_names, 0 },
        { "CacheLocality", parse_enum, C(cache_locality), cache_locality_names, 0 },
        { "CoreKind", parse_enum, C(core_kind), core_kind_names, 0 },
        { "EmulatorThreads", parse_enum, C(emulator_threads), helper_names, 0 },
        { "IOThreads", parse_enum, C(io_threads), helper_names, 0 },
        { "MemoryPolicy", parse_enum, C(memory_policy), memory_policy_names, 0 },
        { "MemPageSize", parse_page_size, C(mem_page_kib), NULL, 0 },
        { "NearDevices", parse_bool, C(near_devices), NULL, 0 },
        [CLASS_KEY_OVERCOMMIT] = { "Overcommit", parse_ratio, C(overcommit), NULL, 0 },
        [CLASS_KEY_IDLE_LATENCY] = { "IdleLatency", parse_idle_latency, C(idle_latency_us), NULL, 0 },
        {},
};

static const KeyDef *section_keys(SectionKind kind) {
        switch (kind) {
        case SECTION_DAEMON:
                return daemon_keys;
        case SECTION_HOST:
                return host_keys;
        case SECTION_CLASS:
                return class_keys;
        default:
                return NULL;
        }
}

const char *config_section_key(const char *section, size_t i) {
        static const struct {
                const char *name;
                SectionKind kind;
        } sections[] = { { "Daemon", SECTION_DAEMON }, { "Host", SECTION_HOST }, { "Class", SECTION_CLASS } };
        for (size_t s = 0; s < ELEMENTSOF(sections); s++) {
                if (strcmp(section, sections[s].name) != 0)
                        continue;
                const KeyDef *keys = section_keys(sections[s].kind);
                for (size_t k = 0; keys[k].name; k++)
                        if (k == i)
                                return keys[k].name;
                return NULL;
        }
        return NULL;
}

/* Edit distance, case-insensitive, for "did you mean" suggestions. */
static unsigned distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        if (la > 40 || lb > 40)
                return UINT_MAX;
        unsigned row[41];
        for (size_t j = 0; j <= lb; j++)
                row[j] = (unsigned) j;
        for (size_t i = 1; i <= la; i++) {
                unsigned diag = row[0];
                row[0] = (unsigned) i;
                for (size_t j = 1; j <= lb; j++) {
                        unsigned up = row[j];
                        unsigned cost = tolower((unsigned char) a[i - 1]) != tolower((unsigned char) b[j - 1]);
                        unsigned best = diag + cost;
                        if (up + 1 < best)
                                best = up + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        row[j] = best;
                        diag = up;
                }
        }
        return row[lb];
}

static const char *suggest(const char *name, const char *const *candidates, size_t n) {
        const char *best = NULL;
        unsigned best_d = 4; /* further than 3 edits away is no suggestion */
        for (size_t i = 0; i < n; i++) {
                unsigned d = distance(name, candidates[i]);
                if (d < best_d) {
                        best_d = d;
                        best = candidates[i];
                }
        }
        return best;
}

static void *section_target(ParseState *s) {
        switch (s->kind) {
        case SECTION_DAEMON:
                return &s->config->daemon;
        case SECTION_HOST:
                return &s->config->host;
        case SECTION_CLASS:
                return s->cls;
        default:
                return NULL;
        }
}

static void class_defaults(PolicyClass *c) {
        *c = (PolicyClass){
                .cpu_policy = CPU_POLICY_SHARED,
                .thread_policy = THREAD_POLICY_PREFER,
                .cache_locality = CACHE_LOCALITY_L3,
                .core_kind = CORE_KIND_ANY,
                .emulator_threads = HELPER_HOUSEKEEPING,
                .io_threads = HELPER_HOUSEKEEPING,
                .memory_policy = MEMORY_STRICT,
                .mem_page_kib = PAGE_KIB_ANY,
                .near_devices = true,
                .idle_latency_us = IDLE_LATENCY_KEEP,
        };
}

/* Appends a class with the defaults of an empty section; NULL on ENOMEM. Earlier PolicyClass
 * pointers are invalid afterwards (the array moves). */
static PolicyClass *append_class(Config *c, const char *name) {
        PolicyClass *classes = realloc(c->classes, (c->n_classes + 1) * sizeof(PolicyClass));
        if (!classes)
                return NULL;
        c->classes = classes;
        PolicyClass *cls = &classes[c->n_classes];
        class_defaults(cls);
        if (!(cls->name = strdup(name)))
                return NULL;
        c->n_classes++;
        return cls;
}

/* Checks that only make sense once a whole [Class] section has been read. */
static void finish_class(ParseState *s) {
        PolicyClass *c = s->cls;
        if (!c)
                return;
        if (c->overcommit > 0 && c->cpu_policy == CPU_POLICY_DEDICATED)
                error_at(s, s->key_lines[CLASS_KEY_OVERCOMMIT],
                         "Overcommit= applies to shared vCPUs, but class '%s' is CPUPolicy=dedicated", c->name);
        if (c->idle_latency_us != IDLE_LATENCY_KEEP && c->cpu_policy == CPU_POLICY_SHARED)
                error_at(s, s->key_lines[CLASS_KEY_IDLE_LATENCY],
                         "IdleLatency= applies to the CPUs dedicated vCPUs hold, but class '%s' is CPUPolicy=shared",
                         c->name);
        /* A warning: one policy.d serves hosts with and without SMT, and the planner refuses
         * such a domain here with the reason. */
        if (c->thread_policy == THREAD_POLICY_REQUIRE && s->topology->smt_max < 2)
                warning_at(s, s->key_lines[CLASS_KEY_THREAD_POLICY],
                           "ThreadPolicy=require: this host has no SMT (one thread per core); domains of class '%s' "
                           "are refused here",
                           c->name);
        s->cls = NULL;
}

static bool valid_class_name(const char *name) {
        return *name &&
               strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == strlen(name);
}

static void start_section(ParseState *s, const char *name) {
        finish_class(s);
        memset(s->key_lines, 0, sizeof(s->key_lines));
        snprintf(s->section, sizeof(s->section), "%s", name);
        s->kind = SECTION_SKIP;

        if (strcmp(name, "Daemon") == 0 || strcmp(name, "Host") == 0) {
                if (!s->main_file) {
                        parse_error(s, "[%s] belongs in kvmtuned.conf, not in a policy file", name);
                        return;
                }
                /* host_lines lives for the whole file: a second [Host] must not lose where the
                 * first one set the pools it is checked against. */
                s->kind = name[0] == 'D' ? SECTION_DAEMON : SECTION_HOST;
                return;
        }
        if (strncmp(name, "Class", 5) == 0 && (name[5] == '\0' || isspace((unsigned char) name[5]))) {
                const char *cname = name + 5;
                while (isspace((unsigned char) *cname))
                        cname++;
                if (s->main_file) {
                        parse_error(s, "[Class] sections belong in policy.d/*.conf, not in kvmtuned.conf");
                        return;
                }
                if (!valid_class_name(cname)) {
                        parse_error(s, "[%s]: a class needs a name of letters, digits, '_', '.' or '-': [Class NAME]",
                                    name);
                        return;
                }
                const PolicyClass *prev = config_find_class(s->config, cname);
                if (prev) {
                        parse_error(s, "class '%s' is already defined at %s:%u", cname, prev->source.file,
                                    prev->source.line);
                        return;
                }
                PolicyClass *c = append_class(s->config, cname);
                if (!c) {
                        s->r = -ENOMEM;
                        return;
                }
                c->source = (ConfigSource){ .file = s->file, .line = s->line };
                s->cls = c;
                s->kind = SECTION_CLASS;
                return;
        }

        const char *known[] = { "Daemon", "Host", "Class" };
        const char *hint = suggest(name, known, ELEMENTSOF(known));
        if (hint)
                parse_error(s, "unknown section [%s]; did you mean [%s]?", name, hint);
        else
                parse_error(s, "unknown section [%s]; expected [Daemon], [Host] or [Class NAME]", name);
}

static int handle_key(void *user, const char *section, const char *name, const char *value) {
        ParseState *s = user;
        (void) section; /* the reader tracks sections itself, with their line numbers */

        if (s->kind == SECTION_SKIP)
                return 1;
        if (s->kind == SECTION_NONE) {
                parse_error(s, "%s= is outside any section", name);
                return 1;
        }

        const KeyDef *keys = section_keys(s->kind);
        const KeyDef *k = NULL;
        size_t n = 0;
        for (; keys[n].name; n++)
                if (!k && strcmp(keys[n].name, name) == 0)
                        k = &keys[n];
        if (!k) {
                const char *names[MAX_KEYS];
                for (size_t i = 0; i < n; i++)
                        names[i] = keys[i].name;
                const char *hint = suggest(name, names, n);
                if (hint)
                        parse_error(s, "unknown key %s in [%s]; did you mean %s?", name, s->section, hint);
                else
                        parse_error(s, "unknown key %s in [%s]", name, s->section);
                return 1;
        }

        size_t index = (size_t) (k - keys);
        if (s->key_lines[index]) {
                parse_error(s, "%s is set twice in [%s] (first at line %u)", name, s->section, s->key_lines[index]);
                return 1;
        }
        s->key_lines[index] = s->line;
        if (s->kind == SECTION_HOST)
                s->host_lines[index] = s->line;
        k->parse(s, k, value, (char *) section_target(s) + k->offset);
        return 1;
}

/* Where a comment starts: '#' or ';' at the start of the line or after white space; len if
 * there is none. */
static size_t comment_start(const char *p, size_t len) {
        for (size_t i = 0; i < len; i++)
                if ((p[i] == '#' || p[i] == ';') && (i == 0 || isspace((unsigned char) p[i - 1])))
                        return i;
        return len;
}

/* Characters no one types on purpose and no one sees: Unicode's invisible spaces and format
 * characters (Cf, Zs other than the space). In a value they make a glob or word that never
 * matches, and a bidi override makes the line read differently from what it is. */
static const struct {
        uint32_t lo, hi;
        const char *name;
} invisible_chars[] = {
        { 0x00A0, 0x00A0, "no-break space" },
        { 0x00AD, 0x00AD, "soft hyphen" },
        { 0x034F, 0x034F, "combining grapheme joiner" },
        { 0x061C, 0x061C, "arabic letter mark" },
        { 0x115F, 0x1160, "hangul filler" },
        { 0x17B4, 0x17B5, "khmer inherent vowel" },
        { 0x180B, 0x180F, "mongolian variation selector or vowel separator" },
        { 0x2000, 0x200A, "typographic space" },
        { 0x200B, 0x200B, "zero width space" },
        { 0x200C, 0x200C, "zero width non-joiner" },
        { 0x200D, 0x200D, "zero width joiner" },
        { 0x200E, 0x200F, "left-to-right or right-to-left mark" },
        { 0x2028, 0x2029, "line or paragraph separator" },
        { 0x202A, 0x202C, "bidirectional embedding" },
        { 0x202D, 0x202D, "left-to-right override" },
        { 0x202E, 0x202E, "right-to-left override" },
        { 0x202F, 0x202F, "narrow no-break space" },
        { 0x205F, 0x205F, "medium mathematical space" },
        { 0x2060, 0x2064, "word joiner or invisible operator" },
        { 0x2066, 0x2069, "bidirectional isolate" },
        { 0x206A, 0x206F, "deprecated format character" },
        { 0x3000, 0x3000, "ideographic space" },
        { 0x3164, 0x3164, "hangul filler" },
        { 0xFE00, 0xFE0F, "variation selector" },
        { 0xFEFF, 0xFEFF, "zero width no-break space or byte order mark" },
        { 0xFFA0, 0xFFA0, "halfwidth hangul filler" },
        { 0xFFF9, 0xFFFB, "interlinear annotation" },
        { 0x1D173, 0x1D17A, "musical format character" },
        { 0xE0000, 0xE007F, "tag character" },
        { 0xE0100, 0xE01EF, "variation selector" },
};

/* Decodes the UTF-8 sequence at p (left bytes remain) into *ret_cp and returns its length; a
 * byte that starts no valid sequence is one byte of U+FFFD (not our business: it is visible). */
static size_t utf8_next(const unsigned char *p, size_t left, uint32_t *ret_cp) {
        size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 1;
        *ret_cp = 0xFFFD;
        if (p[0] >= 0xF8 || (n == 1 && p[0] >= 0x80) || n > left)
                return 1;
        uint32_t cp = n == 1 ? p[0] : p[0] & (0x7Fu >> n);
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xC0) != 0x80)
                        return 1;
                cp = cp << 6 | (p[i] & 0x3Fu);
        }
        *ret_cp = cp;
        return n;
}

/* Reports the first NUL, control character (tab aside) or invisible character of p[0..len) as
 * an error naming its byte (counted from 1 at the start of the line, which is base bytes
 * before p) and code point; returns whether there was one. */
static bool report_invisible(ParseState *s, const char *p, size_t len, size_t base) {
        for (size_t i = 0, n; i < len; i += n) {
                uint32_t cp;
                n = utf8_next((const unsigned char *) p + i, len - i, &cp);
                size_t at = base + i + 1;
                if (cp == 0 && n == 1) {
                        parse_error(s, "NUL byte at byte %zu of the line", at);
                        return true;
                }
                if ((cp < 0x20 && cp != '\t') || cp == 0x7F) {
                        parse_error(s, "control character 0x%02" PRIX32 " at byte %zu of the line", cp, at);
                        return true;
                }
                if (cp >= 0x80 && cp <= 0x9F) {
                        parse_error(s, "control character U+%04" PRIX32 " at byte %zu of the line", cp, at);
                        return true;
                }
                for (size_t k = 0; k < ELEMENTSOF(invisible_chars); k++)
                        if (cp >= invisible_chars[k].lo && cp <= invisible_chars[k].hi) {
                                parse_error(s, "invisible character U+%04" PRIX32 " (%s) at byte %zu of the line", cp,
                                            invisible_chars[k].name, at);
                                return true;
                        }
        }
        return false;
}

static void trim_right(char *p) {
        size_t len = strlen(p);
        while (len > 0 && isspace((unsigned char) p[len - 1]))
                p[--len] = '\0';
}

/* A [Section] line (p starts with '[', has no trailing white space). */
static void parse_section_line(ParseState *s, char *p) {
        size_t len = strlen(p);
        if (p[len - 1] != ']') {
                parse_error(s, "section header lacks its closing ']'");
                s->kind = SECTION_SKIP;
                return;
        }
        p[len - 1] = '\0';
        char *name = p + 1;
        while (isspace((unsigned char) *name))
                name++;
        trim_right(name);
        start_section(s, name);
}

/* One line of len bytes (NULs included), without its newline: a section, a KEY=VALUE setting
 * (handed to handle_key() here, whatever its length), a comment or nothing. */
static void parse_line(ParseState *s, char *buf, size_t len) {
        while (len > 0 && buf[len - 1] == '\r') /* CRLF line ends */
                buf[--len] = '\0';
        char *p = buf;
        if (s->line == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) { /* a BOM opening the file */
                p += 3;
                len -= 3;
        }
        size_t end = comment_start(p, len);
        if (report_invisible(s, p, end, (size_t) (p - buf))) {
                if (p[strspn(p, " \t")] == '[') /* keys below must not land in the section before */
                        s->kind = SECTION_SKIP;
                return;
        }
        p[end] = '\0';
        while (isspace((unsigned char) *p))
                p++;
        trim_right(p);
        if (!*p)
                return;
        if (p[0] == '[') {
                parse_section_line(s, p);
                return;
        }
        char *eq = strchr(p, '=');
        if (!eq) {
                parse_error(s, "expected KEY=VALUE, [SECTION] or a comment: %s", p);
                return;
        }
        if (eq == p) {
                parse_error(s, "a value without a key: %s", p);
                return;
        }
        *eq = '\0';
        trim_right(p);
        char *value = eq + 1;
        while (isspace((unsigned char) *value))
                value++;
        handle_key(s, s->section, p, value);
}

/* One line of at most LINE_READ_MAX characters into buf (the rest of a longer line is skipped);
 * returns its length, -1 at the end of the file, or -2 when the line was longer. */
static ssize_t read_bounded(ParseState *s, char *buf) {
        size_t len = 0;
        bool any = false, longer = false;
        int ch;
        while (!s->stopped && (ch = getc_unlocked(s->stream)) != EOF) {
                any = true;
                if (++s->bytes > CONFIG_FILE_MAX) {
                        error_at(s, 0, "grew past %d bytes while being read", CONFIG_FILE_MAX);
                        s->stopped = true;
                }
                if (ch == '\n')
                        break;
                if (len < LINE_READ_MAX)
                        buf[len++] = (char) ch;
                else
                        longer = true;
        }
        buf[len] = '\0';
        return !any || s->stopped ? -1 : longer ? -2 : (ssize_t) len;
}

/* inih's reader: parses each line itself (so the line number is always known and a line is
 * not bound by inih's INI_MAX_LINE) and hands inih an empty line. */
static char *read_line(char *str, int num, void *stream) {
        ParseState *s = stream;
        char buf[LINE_READ_MAX + 1];
        (void) num;
        ssize_t len = read_bounded(s, buf);
        if (len == -1)
                return NULL;
        s->line++;
        str[0] = '\0';
        if (len == -2)
                parse_error(s, "line is too long: more than %d bytes, the most a line may have", LINE_READ_MAX);
        else
                parse_line(s, buf, (size_t) len);
        return str;
}

/* Opens path for reading if it is a regular file of at most CONFIG_FILE_MAX bytes (O_NONBLOCK:
 * a FIFO named by mistake must not hang the open). Returns the stream, or NULL with the error
 * recorded. */
static FILE *open_config_file(ParseState *s, const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                error_at(s, 0, "cannot open: %s", strerror(errno));
                return NULL;
        }
        if (S_ISDIR(st.st_mode)) { /* --config given the policy directory, most likely */
                if (s->main_file)
                        error_at(s, 0, "is a directory, not a configuration file such as kvmtuned.conf");
                else
                        error_at(s, 0, "is a directory, not a policy file");
                return NULL;
        }
        if (!S_ISREG(st.st_mode)) {
                error_at(s, 0, "not a regular file");
                return NULL;
        }
        if (st.st_size > CONFIG_FILE_MAX) {
                error_at(s, 0, "%jd bytes; a configuration file may have at most %d", (intmax_t) st.st_size,
                         CONFIG_FILE_MAX);
                return NULL;
        }
        FILE *f = fdopen(fd, "r");
        if (!f) {
                s->r = -ENOMEM;
                return NULL;
        }
        TAKE_FD(fd);
        return f;
}

static int parse_file(ParseState *s, const char *path, bool main_file) {
        if (s->stopped)
                return s->r;
        s->main_file = main_file;
        _cleanup_fclose_ FILE *f = open_config_file(s, path);
        if (!f)
                return s->r;
        s->stream = f;
        s->bytes = 0;
        s->line = 0;
        s->kind = SECTION_NONE;
        s->cls = NULL;

        /* read_line hands inih only empty lines: its return is a safety net. */
        int r = ini_parse_stream(read_line, s, handle_key, s);
        finish_class(s);
        if (r > 0 && s->errors->n == 0)
                error_at(s, (unsigned) r, "cannot parse this line");
        return s->r;
}

static int add_file(Config *c, const char *path, const char **ret_name) {
        char **files = realloc(c->files, (c->n_files + 1) * sizeof(char *));
        if (!files)
                return -ENOMEM;
        c->files = files;
        if (!(files[c->n_files] = strdup(path)))
                return -ENOMEM;
        *ret_name = files[c->n_files++];
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The *.conf files of dir, sorted by name. Returns the count or -errno. */
static int list_policy_files(const char *dir, char ***ret_names) {
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        char **names = NULL;
        int n = 0, r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (len < 6 || strcmp(de->d_name + len - 5, ".conf") != 0 || de->d_name[0] == '.')
                        continue;
                char **grown = realloc(names, (size_t) (n + 1) * sizeof(char *));
                if (!grown || asprintf(&grown[n], "%s/%s", dir, de->d_name) < 0) {
                        names = grown ? grown : names;
                        r = -ENOMEM;
                        break;
                }
                names = grown;
                n++;
        }
        closedir(d);
        if (r < 0) {
                for (int i = 0; i < n; i++)
                        free(names[i]);
                free(names);
                return r;
        }
        if (n > 1) /* an empty directory leaves names NULL, which qsort must not be given */
                qsort(names, (size_t) n, sizeof(char *), cmp_str);
        *ret_names = names;
        return n;
}

/* An explicit HousekeepingCPUs= naming every CPU leaves no CPU to place a vCPU on. Only an
 * explicit list: "auto" taking all of a host of one core per node is a small host, not a
 * mistake in the file. */
static void check_housekeeping_leaves_cpus(ParseState *s) {
        const HostConfig *h = &s->config->host;
        if (h->housekeeping_auto || !hwloc_bitmap_isincluded(s->topology->cpuset, h->housekeeping))
                return;
        _cleanup_free_ char *hk = cpulist_format(h->housekeeping);
        error_at(s, s->host_lines[HOST_KEY_HOUSEKEEPING],
                 "HousekeepingCPUs=%s takes every CPU of this host: none is left for dedicated or shared vCPUs",
                 hk ? hk : "?");
}

static void free_list(char **list) {
        for (char **p = list; p && *p; p++)
                free(*p);
        free(list);
}

/* The automatic housekeeping set and its reasons, in place of the ones before. */
static int resolve_housekeeping_auto(HostConfig *h, const Topology *t) {
        char **why = NULL;
        int r = housekeeping_auto(t, h->housekeeping, &why);
        if (r < 0)
                return r;
        free_list(h->housekeeping_why);
        h->housekeeping_why = why;
        return 0;
}

/* Resolves "auto" pools and checks the pools against each other. */
static void resolve_pools(ParseState *s) {
        HostConfig *h = &s->config->host;
        const Topology *t = s->topology;

        if (h->housekeeping_auto && resolve_housekeeping_auto(h, t) < 0) {
                s->r = -ENOMEM;
                return;
        }
        if (h->dedicated_auto)
                hwloc_bitmap_andnot(h->dedicated, t->cpuset, h->housekeeping);
        if (h->shared_auto)
                hwloc_bitmap_andnot(h->shared, t->cpuset, h->housekeeping);

        s->line = 0;
        if (hwloc_bitmap_iszero(h->housekeeping))
                error_at(s, s->host_lines[HOST_KEY_HOUSEKEEPING],
                         "HousekeepingCPUs= must leave the host at least one CPU");
        check_housekeeping_leaves_cpus(s);

        struct {
                int key;
                hwloc_bitmap_t set;
                bool is_auto;
        } pools[] = { { HOST_KEY_DEDICATED, h->dedicated, h->dedicated_auto },
                      { HOST_KEY_SHARED, h->shared, h->shared_auto } };
        for (size_t i = 0; i < ELEMENTSOF(pools); i++) {
                _cleanup_bitmap_ hwloc_bitmap_t overlap = hwloc_bitmap_alloc();
                hwloc_bitmap_and(overlap, pools[i].set, h->housekeeping);
                if (hwloc_bitmap_iszero(overlap) || pools[i].is_auto)
                        continue;
                _cleanup_free_ char *o = cpulist_format(overlap);
                unsigned hk_line = s->host_lines[HOST_KEY_HOUSEKEEPING], line = s->host_lines[pools[i].key];
                if (h->housekeeping_auto)
                        error_at(s, line,
                                 "%s overlaps the automatic HousekeepingCPUs (one core of each node) on CPUs "
                                 "%s; set HousekeepingCPUs= explicitly",
                                 host_keys[pools[i].key].name, o ? o : "?");
                else
                        error_at(s, line > hk_line ? line : hk_line,
                                 "%s and HousekeepingCPUs (line %u) overlap on CPUs %s", host_keys[pools[i].key].name,
                                 line > hk_line ? hk_line : line, o ? o : "?");
        }
}

static void config_defaults(Config *c) {
        c->daemon = (DaemonConfig){
                .stats_interval_usec = 5000000,
                .steal_warn_percent = 5,
                .respect_explicit_pins = true,
                .hook_fail_open = true,
        };
        c->host = (HostConfig){
                .housekeeping_auto = true,
                .dedicated_auto = true,
                .shared_auto = true,
                .isolate_host = ISOLATE_WHEN_DEDICATED,
                .thp = THP_KEEP,
                .hugepages = HUGEPAGES_ON_DEMAND,
                .restore_on_exit = true,
        };
}

/* Without a [Class default] in the policy, unmatched domains still get a policy: shared CPUs
 * of one node, memory preferred (never strict: it must not OOM a VM nobody classified), at most
 * 4 vCPUs per shared CPU (the shipped 00-default.conf says the same). */
static int add_builtin_default(Config *c) {
        PolicyClass *d = append_class(c, "default");
        if (!d)
                return -ENOMEM;
        d->cache_locality = CACHE_LOCALITY_NUMA;
        d->memory_policy = MEMORY_PREFERRED;
        d->overcommit = 4.0;
        d->priority = INT_MIN;
        d->builtin = true;
        return 0;
}

/* Errors of one file come out of order when a check runs at the end of a section: sort each
 * file's errors by line, keeping files in the order they were read (a stable insertion sort). */
static void sort_messages(ConfigError *items, size_t n, size_t from) {
        for (size_t i = from + 1; i < n; i++) {
                ConfigError e = items[i];
                size_t j = i;
                while (j > from && items[j - 1].file && e.file && strcmp(items[j - 1].file, e.file) == 0 &&
                       items[j - 1].line > e.line) {
                        items[j] = items[j - 1];
                        j--;
                }
                items[j] = e;
        }
}

int config_load(const char *config_path, const char *policy_dir, const Topology *t, Config **ret_config,
                ConfigErrors *errors) {
        _cleanup_(config_freep) Config *c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;
        config_defaults(c);
        c->daemon.uri = strdup("qemu:///system");
        c->daemon.metrics = strdup(CONFIG_METRICS_DEFAULT);
        c->host.housekeeping = hwloc_bitmap_alloc();
        c->host.dedicated = hwloc_bitmap_alloc();
        c->host.shared = hwloc_bitmap_alloc();
        if (!c->daemon.uri || !c->daemon.metrics || !c->host.housekeeping || !c->host.dedicated || !c->host.shared)
                return -ENOMEM;

        size_t errors_before = errors->n;
        ParseState s = { .config = c, .errors = errors, .topology = t };
        int r;
        if (config_path) {
                r = add_file(c, config_path, &s.file);
                if (r < 0)
                        return r;
                r = parse_file(&s, config_path, true);
                if (r == -ENOMEM)
                        return r;
        }
        s.file = config_path;
        resolve_pools(&s);

        if (policy_dir) {
                char **names = NULL;
                int n = list_policy_files(policy_dir, &names);
                if (n == -ENOMEM)
                        return n;
                if (n < 0) {
                        s.file = policy_dir;
                        error_at(&s, 0, "cannot read policy directory: %s", strerror(-n));
                }
                for (int i = 0; i < n; i++) {
                        r = s.stopped ? 0 : add_file(c, names[i], &s.file);
                        if (r >= 0 && !s.stopped)
                                r = parse_file(&s, names[i], false);
                        if (r == -ENOMEM) {
                                for (int j = i; j < n; j++)
                                        free(names[j]);
                                free(names);
                                return r;
                        }
                        free(names[i]);
                }
                free(names);
        }
        if (s.r < 0)
                return s.r;

        if (!config_find_class(c, "default")) {
                r = add_builtin_default(c);
                if (r < 0)
                        return r;
        }
        sort_messages(c->warnings, c->n_warnings, 0);
        if (errors->n > errors_before) {
                sort_messages(errors->items, errors->n, errors_before);
                return -EINVAL;
        }
        *ret_config = TAKE_PTR(c);
        return 0;
}

void config_free(Config *c) {
        if (!c)
                return;
        free(c->daemon.uri);
        free(c->daemon.metrics);
        hwloc_bitmap_free(c->host.housekeeping);
        hwloc_bitmap_free(c->host.dedicated);
        hwloc_bitmap_free(c->host.shared);
        free_list(c->host.housekeeping_why);
        free(c->host.governor_dedicated);
        free(c->host.governor_idle);
        for (size_t i = 0; i < c->n_classes; i++) {
                free(c->classes[i].name);
                free_list(c->classes[i].match_name);
                free_list(c->classes[i].match_metadata);
        }
        free(c->classes);
        for (size_t i = 0; i < c->n_files; i++)
                free(c->files[i]);
        free(c->files);
        messages_free(c->warnings, c->n_warnings);
        free(c);
}

const PolicyClass *config_find_class(const Config *c, const char *name) {
        for (size_t i = 0; i < c->n_classes; i++)
                if (strcmp(c->classes[i].name, name) == 0)
                        return &c->classes[i];
        return NULL;
}

static bool list_has(char **list, const char *word) {
        for (char **p = list; p && *p; p++)
                if (strcmp(*p, word) == 0)
                        return true;
        return false;
}

/* The better of two candidates: higher Priority, then earlier in file order (lower index). */
static const PolicyClass *better(const PolicyClass *a, const PolicyClass *b) {
        if (!a)
                return b;
        return b->priority > a->priority ? b : a;
}

const PolicyClass *config_match_class(const Config *c, const char *domain_name, const char *metadata_class,
                                      char **ret_why) {
        const PolicyClass *best = NULL;
        *ret_why = NULL;
        if (metadata_class) {
                for (size_t i = 0; i < c->n_classes; i++)
                        if (strcmp(c->classes[i].name, metadata_class) == 0 ||
                            list_has(c->classes[i].match_metadata, metadata_class))
                                best = better(best, &c->classes[i]);
                if (best) {
                        if (asprintf(ret_why, "class %s: chosen by the domain's metadata (class=\"%s\")", best->name,
                                     metadata_class) < 0)
                                *ret_why = NULL;
                        return best;
                }
        }
        const char *glob = NULL;
        for (size_t i = 0; i < c->n_classes; i++)
                for (char **g = c->classes[i].match_name; g && *g; g++)
                        if (fnmatch(*g, domain_name, 0) == 0) {
                                const PolicyClass *b = better(best, &c->classes[i]);
                                if (b != best)
                                        glob = *g;
                                best = b;
                                break;
                        }
        if (best) {
                if (asprintf(ret_why, "class %s: name matches %s (Priority=%d)%s%s%s", best->name, glob, best->priority,
                             metadata_class ? "; metadata class \"" : "", metadata_class ? metadata_class : "",
                             metadata_class ? "\" names no class" : "") < 0)
                        *ret_why = NULL;
                return best;
        }
        best = config_find_class(c, "default");
        if (asprintf(ret_why, "class default: no class matches%s%s%s", metadata_class ? " (metadata class \"" : "",
                     metadata_class ? metadata_class : "", metadata_class ? "\" is unknown)" : "") < 0)
                *ret_why = NULL;
        return best;
}

static bool lists_equal(char **a, char **b) {
        for (; a && *a && b && *b; a++, b++)
                if (strcmp(*a, *b) != 0)
                        return false;
        return (!a || !*a) && (!b || !*b);
}

bool config_class_equal(const PolicyClass *a, const PolicyClass *b) {
        return a->priority == b->priority && a->cpu_policy == b->cpu_policy && a->thread_policy == b->thread_policy &&
               a->cache_locality == b->cache_locality && a->core_kind == b->core_kind &&
               a->emulator_threads == b->emulator_threads && a->io_threads == b->io_threads &&
               a->memory_policy == b->memory_policy && a->mem_page_kib == b->mem_page_kib &&
               a->near_devices == b->near_devices && a->overcommit == b->overcommit &&
               lists_equal(a->match_name, b->match_name) && lists_equal(a->match_metadata, b->match_metadata);
}

char *config_class_settings(const PolicyClass *c) {
        char *text = NULL;
        if (asprintf(&text,
                     "cpu=%d thread=%d cache=%d kind=%d emulator=%d io=%d memory=%d page=%" PRIu64
                     " near=%d overcommit=%g",
                     (int) c->cpu_policy, (int) c->thread_policy, (int) c->cache_locality, (int) c->core_kind,
                     (int) c->emulator_threads, (int) c->io_threads, (int) c->memory_policy, c->mem_page_kib,
                     (int) c->near_devices, c->overcommit) < 0)
                return NULL;
        return text;
}

bool config_pools_equal(const Config *a, const Config *b) {
        return hwloc_bitmap_isequal(a->host.housekeeping, b->host.housekeeping) &&
               hwloc_bitmap_isequal(a->host.dedicated, b->host.dedicated) &&
               hwloc_bitmap_isequal(a->host.shared, b->host.shared) && a->host.hugepages == b->host.hugepages &&
               a->daemon.respect_explicit_pins == b->daemon.respect_explicit_pins;
}
