/* kvmtuned.conf and policy.d/NAME.conf: parsing with inih, validation against the host, and
 * errors reported as FILE:LINE: message, all of them, not only the first. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hwloc.h>

#include "topology.h"

typedef enum CpuPolicy { CPU_POLICY_DEDICATED, CPU_POLICY_SHARED, CPU_POLICY_MIXED } CpuPolicy;
typedef enum ThreadPolicy { THREAD_POLICY_PREFER, THREAD_POLICY_ISOLATE, THREAD_POLICY_REQUIRE } ThreadPolicy;
typedef enum CacheLocality { CACHE_LOCALITY_L3, CACHE_LOCALITY_NUMA, CACHE_LOCALITY_NONE } CacheLocality;
typedef enum CoreKind { CORE_KIND_PERFORMANCE, CORE_KIND_EFFICIENCY, CORE_KIND_ANY } CoreKind;
typedef enum HelperPlacement { HELPER_HOUSEKEEPING, HELPER_ISOLATE, HELPER_SHARE } HelperPlacement;
typedef enum MemoryPolicy { MEMORY_STRICT, MEMORY_PREFERRED, MEMORY_INTERLEAVE, MEMORY_NONE } MemoryPolicy;
typedef enum IsolateHost { ISOLATE_NO, ISOLATE_WHEN_DEDICATED, ISOLATE_ALWAYS } IsolateHost;
typedef enum ThpMode { THP_KEEP, THP_ALWAYS, THP_MADVISE, THP_NEVER } ThpMode;
typedef enum HugepagesMode { HUGEPAGES_ON_DEMAND, HUGEPAGES_KEEP, HUGEPAGES_OFF } HugepagesMode;
typedef enum IrqAffinity { IRQ_AFFINITY_AWAY, IRQ_AFFINITY_KEEP } IrqAffinity;
typedef enum NumaBalancing { NUMA_BALANCING_OFF_WHILE_STRICT, NUMA_BALANCING_KEEP } NumaBalancing;
typedef enum KsmMode { KSM_KEEP, KSM_OFF, KSM_ON } KsmMode;

/* IdleLatency= of a class: keep, poll (no idle state: the PM QoS file's "n/a"), or a bound in
 * microseconds (1..IDLE_LATENCY_MAX; the file's 0 means no bound, so 0 is not accepted). */
#define IDLE_LATENCY_KEEP (-1)
#define IDLE_LATENCY_POLL (-2)
#define IDLE_LATENCY_MAX 1000000

/* MemPageSize: "small" and "any" next to real sizes in KiB. */
#define PAGE_KIB_SMALL 0
#define PAGE_KIB_ANY UINT64_MAX

/* Metrics= default: 9177, the first choice, is Debian's prometheus-libvirt-exporter's port; 9655 is
 * free in Prometheus's list of default port allocations. */
#define CONFIG_METRICS_DEFAULT "127.0.0.1:9655"

/* Where a value came from, for errors that name it later (planner refusals, contradictions). */
typedef struct ConfigSource {
        const char *file; /* points into Config.files */
        unsigned line;
} ConfigSource;

typedef struct DaemonConfig {
        char *uri;
        char *metrics; /* "127.0.0.1:9655", NULL: off */
        uint64_t stats_interval_usec;
        double steal_warn_percent;
        bool respect_explicit_pins;
        bool dry_run;
        bool hook_fail_open;
} DaemonConfig;

/* The CPU pools, always resolved against the host: "auto" is turned into CPUs at load time. */
typedef struct HostConfig {
        hwloc_bitmap_t housekeeping; /* auto: the least valuable core (all threads) of every NUMA node */
        hwloc_bitmap_t dedicated; /* auto: every usable CPU that is not housekeeping */
        hwloc_bitmap_t shared; /* auto: the same; the planner leaves out CPUs dedicated vCPUs hold */
        bool housekeeping_auto, dedicated_auto, shared_auto;
        /* HousekeepingCPUs=auto: why each node's core was chosen, one line per node that has
         * CPUs ("node 0: core 4 (CPUs 4,16): the smaller L3 (8 MiB of 16 MiB)"), NULL-terminated;
         * NULL when HousekeepingCPUs is explicit. */
        char **housekeeping_why;
        IsolateHost isolate_host;
        ThpMode thp;
        char *governor_dedicated; /* NULL: keep */
        char *governor_idle; /* NULL: keep */
        HugepagesMode hugepages;
        IrqAffinity irq_affinity; /* away: device IRQs leave the CPUs dedicated vCPUs hold */
        NumaBalancing numa_balancing; /* off-while-strict: kernel.numa_balancing 0 while a strict VM runs */
        KsmMode ksm; /* /sys/kernel/mm/ksm/run; merge_across_nodes 0 while strict VMs run with KSM on */
        bool restore_on_exit;
} HostConfig;

typedef struct PolicyClass {
        char *name;
        char **match_name; /* NULL-terminated shell globs */
        char **match_metadata;
        int priority;
        CpuPolicy cpu_policy;
        ThreadPolicy thread_policy;
        CacheLocality cache_locality;
        CoreKind core_kind;
        HelperPlacement emulator_threads;
        HelperPlacement io_threads;
        MemoryPolicy memory_policy;
        uint64_t mem_page_kib; /* PAGE_KIB_SMALL, PAGE_KIB_ANY or a size */
        bool near_devices;
        double overcommit; /* 0: no limit */
        int idle_latency_us; /* IDLE_LATENCY_KEEP, IDLE_LATENCY_POLL or 1..IDLE_LATENCY_MAX */
        ConfigSource source; /* its [Class NAME] line */
        bool builtin; /* the default class kvmtuned supplies when the policy has none */
} PolicyClass;

typedef struct ConfigError {
        char *file; /* NULL for errors that belong to no file */
        unsigned line;
        char *message;
} ConfigError;

typedef struct Config {
        DaemonConfig daemon;
        HostConfig host;
        PolicyClass *classes; /* in file order: lexical file order, then order within a file */
        size_t n_classes;
        char **files; /* every file read, for ConfigSource.file */
        size_t n_files;
        /* What loads but will not work on this host, such as ThreadPolicy=require without SMT:
         * one policy.d serves a fleet, so these never refuse it. Owned here, not by ConfigErrors,
         * so that no caller has to free what it never asked for. Sorted like errors. */
        ConfigError *warnings;
        size_t n_warnings;
} Config;

/* Bounds on what a configuration may cost to read: a larger file, or one that is not a regular
 * file, is refused unread; after this many errors reading stops. */
#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_ERRORS_MAX 50

/* The range of Overcommit= (shared vCPUs per shared CPU). */
#define OVERCOMMIT_MIN 0.1
#define OVERCOMMIT_MAX 100.0

/* The longest line a file may have, in bytes without its newline: a longer one is an error. */
#define CONFIG_LINE_MAX 4096

typedef struct ConfigErrors {
        ConfigError *items;
        size_t n;
} ConfigErrors;

/* Reads config_path (NULL: built-in defaults) and every *.conf in policy_dir (NULL: none) in
 * lexical order, and checks them against the host t. Every error goes to errors, every warning
 * to the configuration's warnings. Returns 0 and the configuration in *ret_config, -EINVAL if
 * any error was found (nothing returned, warnings neither), or -ENOMEM. */
int config_load(const char *config_path, const char *policy_dir, const Topology *t, Config **ret_config,
                ConfigErrors *errors);

void config_free(Config *c);

/* The i-th key that section ("Daemon", "Host" or "Class") accepts, in the parser's order; NULL
 * past the last and for another section. What the documentation must describe. */
const char *config_section_key(const char *section, size_t i);

/* Returns the class called name, or NULL. */
const PolicyClass *config_find_class(const Config *c, const char *name);

/* Picks the class for a domain: the class its metadata names (by name or MatchMetadata),
 * else the highest-Priority class whose MatchName glob matches (ties: file order), else
 * "default". metadata_class may be NULL. Returns the class (never NULL: a config always has a
 * default) and a one-line explanation in *ret_why (malloc'd; NULL on ENOMEM). */
const PolicyClass *config_match_class(const Config *c, const char *domain_name, const char *metadata_class,
                                      char **ret_why);

/* Whether two classes place domains the same way (every setting but name, source and
 * IdleLatency= equal: the idle bound follows the new class without moving anything). */
bool config_class_equal(const PolicyClass *a, const PolicyClass *b);

/* The settings of class c that shape a placement, as one line (what a saved placement is
 * compared with: a class that kept its name but changed them must not be adopted). Returns a
 * malloc'd string, NULL on ENOMEM. */
char *config_class_settings(const PolicyClass *c);

/* Whether two configurations have the same CPU pools. */
bool config_pools_equal(const Config *a, const Config *b);

/* Formats every error as "FILE:LINE: message\n" into a malloc'd string; NULL on ENOMEM. */
char *config_errors_format(const ConfigErrors *errors);

/* Formats the warnings of c as "FILE:LINE: warning: message\n"; "" when there are none, NULL on
 * ENOMEM. */
char *config_warnings_format(const Config *c);

void config_errors_clear(ConfigErrors *errors);

/* Names of enum values as the configuration spells them ("dedicated", "l3", ...). */
const char *cpu_policy_to_string(CpuPolicy v);
const char *thread_policy_to_string(ThreadPolicy v);
const char *cache_locality_to_string(CacheLocality v);
const char *core_kind_to_string(CoreKind v);
const char *helper_placement_to_string(HelperPlacement v);
const char *memory_policy_to_string(MemoryPolicy v);
const char *irq_affinity_to_string(IrqAffinity v);
const char *numa_balancing_to_string(NumaBalancing v);
const char *ksm_mode_to_string(KsmMode v);
/* IdleLatency= as written: "keep", "poll" or the number of microseconds, into buf. */
const char *idle_latency_to_string(int us, char *buf, size_t len);

static inline void config_freep(Config **c) {
        if (*c)
                config_free(*c);
}
