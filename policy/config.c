/* kvmtuned.conf and policy.d/NAME.conf: sections, keys, validation, defaults and loading. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "housekeeping.h"
#include "cpulist.h"
#include "config-internal.h"
#include "macro.h"

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

#define D(f) offsetof(DaemonConfig, f)
#define H(f) offsetof(HostConfig, f)
#define C(f) offsetof(PolicyClass, f)

static const KeyDef daemon_keys[] = {
        { "URI", value_string, D(uri), NULL, 0 },
        { "Metrics", value_listen, D(metrics), NULL, 0 },
        { "StatsInterval", value_duration, D(stats_interval_usec), NULL, 0 },
        { "StealWarnPercent", value_percent, D(steal_warn_percent), NULL, 0 },
        { "RespectExplicitPins", value_bool, D(respect_explicit_pins), NULL, 0 },
        { "DryRun", value_bool, D(dry_run), NULL, 0 },
        { "HookFailOpen", value_bool, D(hook_fail_open), NULL, 0 },
        {},
};

enum { HOST_KEY_HOUSEKEEPING, HOST_KEY_DEDICATED, HOST_KEY_SHARED };
static const KeyDef host_keys[] = {
        [HOST_KEY_HOUSEKEEPING] = { "HousekeepingCPUs", value_cpus, H(housekeeping), NULL, H(housekeeping_auto) },
        [HOST_KEY_DEDICATED] = { "DedicatedCPUs", value_cpus, H(dedicated), NULL, H(dedicated_auto) },
        [HOST_KEY_SHARED] = { "SharedCPUs", value_cpus, H(shared), NULL, H(shared_auto) },
        { "IsolateHost", value_enum, H(isolate_host), isolate_host_names, 0 },
        { "TransparentHugepages", value_enum, H(thp), thp_names, 0 },
        { "GovernorDedicated", value_governor, H(governor_dedicated), NULL, 0 },
        { "GovernorIdle", value_governor, H(governor_idle), NULL, 0 },
        { "Hugepages", value_enum, H(hugepages), hugepages_names, 0 },
        { "IRQAffinity", value_enum, H(irq_affinity), irq_affinity_names, 0 },
        { "NumaBalancing", value_enum, H(numa_balancing), numa_balancing_names, 0 },
        { "KSM", value_enum, H(ksm), ksm_names, 0 },
        { "RestoreOnExit", value_bool, H(restore_on_exit), NULL, 0 },
        {},
};

enum { CLASS_KEY_CPU_POLICY = 3, CLASS_KEY_THREAD_POLICY = 4, CLASS_KEY_OVERCOMMIT = 12, CLASS_KEY_IDLE_LATENCY = 13 };
static const KeyDef class_keys[] = {
        { "MatchName", value_list, C(match_name), NULL, 0 },
        { "MatchMetadata", value_list, C(match_metadata), NULL, 0 },
        { "Priority", value_priority, C(priority), NULL, 0 },
        [CLASS_KEY_CPU_POLICY] = { "CPUPolicy", value_enum, C(cpu_policy), cpu_policy_names, 0 },
        [CLASS_KEY_THREAD_POLICY] = { "ThreadPolicy", value_enum, C(thread_policy), thread_policy_names, 0 },
        { "CacheLocality", value_enum, C(cache_locality), cache_locality_names, 0 },
        { "CoreKind", value_enum, C(core_kind), core_kind_names, 0 },
        { "EmulatorThreads", value_enum, C(emulator_threads), helper_names, 0 },
        { "IOThreads", value_enum, C(io_threads), helper_names, 0 },
        { "MemoryPolicy", value_enum, C(memory_policy), memory_policy_names, 0 },
        { "MemPageSize", value_page_size, C(mem_page_kib), NULL, 0 },
        { "NearDevices", value_bool, C(near_devices), NULL, 0 },
        [CLASS_KEY_OVERCOMMIT] = { "Overcommit", value_ratio, C(overcommit), NULL, 0 },
        [CLASS_KEY_IDLE_LATENCY] = { "IdleLatency", value_idle_latency, C(idle_latency_us), NULL, 0 },
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
void config_finish_class(ParseState *s) {
        PolicyClass *c = s->cls;
        if (!c)
                return;
        if (c->overcommit > 0 && c->cpu_policy == CPU_POLICY_DEDICATED)
                config_error_at(s, s->key_lines[CLASS_KEY_OVERCOMMIT],
                                "Overcommit= applies to shared vCPUs, but class '%s' is CPUPolicy=dedicated", c->name);
        if (c->idle_latency_us != IDLE_LATENCY_KEEP && c->cpu_policy == CPU_POLICY_SHARED)
                config_error_at(
                        s, s->key_lines[CLASS_KEY_IDLE_LATENCY],
                        "IdleLatency= applies to the CPUs dedicated vCPUs hold, but class '%s' is CPUPolicy=shared",
                        c->name);
        /* A warning: one policy.d serves hosts with and without SMT, and the planner refuses
         * such a domain here with the reason. */
        if (c->thread_policy == THREAD_POLICY_REQUIRE && s->topology->smt_max < 2)
                config_warning_at(
                        s, s->key_lines[CLASS_KEY_THREAD_POLICY],
                        "ThreadPolicy=require: this host has no SMT (one thread per core); domains of class '%s' "
                        "are refused here",
                        c->name);
        s->cls = NULL;
}

static bool valid_class_name(const char *name) {
        return *name &&
               strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == strlen(name);
}

void config_start_section(ParseState *s, const char *name) {
        config_finish_class(s);
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

int config_handle_key(void *user, const char *section, const char *name, const char *value) {
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
        config_error_at(s, s->host_lines[HOST_KEY_HOUSEKEEPING],
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
                config_error_at(s, s->host_lines[HOST_KEY_HOUSEKEEPING],
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
                        config_error_at(s, line,
                                        "%s overlaps the automatic HousekeepingCPUs (one core of each node) on CPUs "
                                        "%s; set HousekeepingCPUs= explicitly",
                                        host_keys[pools[i].key].name, o ? o : "?");
                else
                        config_error_at(s, line > hk_line ? line : hk_line,
                                        "%s and HousekeepingCPUs (line %u) overlap on CPUs %s",
                                        host_keys[pools[i].key].name, line > hk_line ? hk_line : line, o ? o : "?");
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
                r = reader_parse_file(&s, config_path, true);
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
                        config_error_at(&s, 0, "cannot read policy directory: %s", strerror(-n));
                }
                for (int i = 0; i < n; i++) {
                        r = s.stopped ? 0 : add_file(c, names[i], &s.file);
                        if (r >= 0 && !s.stopped)
                                r = reader_parse_file(&s, names[i], false);
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
        config_messages_free(c->warnings, c->n_warnings);
        free(c);
}
