/* bench/placement-quality: how well the planner places a mixed workload, checked with hwloc against a pinner. */
/* Per machine: ratio violations, avoidable L3 and NUMA splits, double bookings, and the vCPUs
 * admitted against a locality-blind sequential pinner. Prints figures; never fails on them. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hwloc.h>

#include "config.h"
#include "domain.h"
#include "macro.h"
#include "placement-quality.h"
#include "planner.h"
#include "topology.h"

#define SEED UINT64_C(0x6b766d74756e6564) /* "kvmtuned" */
#define MIB_PER_VCPU 256

/* The classes of the issue: dedicated prefer/isolate on one L3, performance cores on one node,
 * shared 4:1 on one node. Memory stays default and small, so CPUs decide. */
static const char policy[] = "[Class ded]\nCPUPolicy=dedicated\nThreadPolicy=prefer\nCacheLocality=l3\n"
                             "[Class iso]\nCPUPolicy=dedicated\nThreadPolicy=isolate\nCacheLocality=l3\n"
                             "[Class perf]\nCPUPolicy=dedicated\nCoreKind=performance\nCacheLocality=numa\n"
                             "[Class vdi]\nCPUPolicy=shared\nCacheLocality=numa\nOvercommit=4\n";

typedef struct Mix {
        const char *name; /* a class of the policy above */
        unsigned percent;
} Mix;

/* The mix, then the same with the isolated share given to prefer: an isolated vCPU holds
 * a whole core, so a planner that admits more of them than the pinner (which fragments cores and
 * turns them away) admits fewer vCPUs in all; the second run shows the capacity without that. */
typedef struct Workload {
        const char *label;
        Mix mix[4];
} Workload;

static const Workload workloads[] = {
        { "mixed", { { "ded", 30 }, { "iso", 20 }, { "perf", 15 }, { "vdi", 35 } } },
        { "without isolate", { { "ded", 50 }, { "iso", 0 }, { "perf", 15 }, { "vdi", 35 } } },
};

static const unsigned sizes[] = { 1, 2, 2, 4, 4, 4, 6, 8, 8, 12, 16, 24, 32 };

static bool verbose;
static bool verbose_refusals; /* KT_BENCH_VERBOSE=2: every refusal of the planner too */

/* ---- The workload ----------------------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

static void jobs_free(Job *jobs, unsigned n) {
        for (unsigned i = 0; jobs && i < n; i++)
                domain_free(jobs[i].req);
        free(jobs);
}

/* Largest number of dedicated-pool CPUs on one node: the cap on a domain's size. */
static unsigned size_cap(const Host *h) {
        unsigned cap = 1;
        _cleanup_bitmap_ hwloc_bitmap_t set = hwloc_bitmap_alloc();
        for (unsigned n = 0; set && n < h->n_nodes; n++) {
                hwloc_bitmap_and(set, h->node_cpus[n], h->dedicated);
                unsigned w = (unsigned) hwloc_bitmap_weight(set);
                cap = w > cap ? w : cap;
        }
        return cap;
}

static DomainRequest *make_request(unsigned i, const char *cls, unsigned vcpus) {
        char xml[512];
        snprintf(xml, sizeof(xml),
                 "<domain><name>vm-%04u</name><vcpu>%u</vcpu><memory unit='MiB'>%u</memory>"
                 "<metadata><k:policy xmlns:k='urn:kvmtuned:policy:1' class='%s'/></metadata></domain>",
                 i, vcpus, vcpus * MIB_PER_VCPU, cls);
        DomainRequest *d = NULL;
        _cleanup_free_ char *error = NULL;
        if (domain_parse(xml, strlen(xml), &d, &error) < 0) {
                fprintf(stderr, "bench: %s\n", error ? error : "out of memory");
                return NULL;
        }
        return d;
}

/* Domains in arrival order until the vCPUs asked reach twice the usable CPUs; same seed on
 * every machine. */
static int make_jobs(const Host *h, const Config *c, const Mix *mix, Job **ret_jobs, unsigned *ret_n) {
        unsigned target = 2 * (unsigned) hwloc_bitmap_weight(h->usable), cap = size_cap(h), asked = 0, n = 0;
        Job *jobs = calloc(target, sizeof(Job)); /* at least one vCPU each */
        if (!jobs)
                return -ENOMEM;
        uint64_t s = SEED;
        while (asked < target) {
                unsigned roll = (unsigned) (xorshift(&s) % 100), k = 0;
                for (unsigned acc = mix[0].percent; roll >= acc && k + 1 < ELEMENTSOF(workloads[0].mix);
                     acc += mix[++k].percent)
                        ;
                unsigned v;
                do
                        v = sizes[xorshift(&s) % ELEMENTSOF(sizes)];
                while (v > cap);
                jobs[n] = (Job){ .req = make_request(n, mix[k].name, v),
                                 .cls = config_find_class(c, mix[k].name),
                                 .vcpus = v };
                if (!jobs[n].req || !jobs[n].cls) {
                        jobs_free(jobs, n + 1);
                        return -EINVAL;
                }
                asked += v;
                n++;
        }
        *ret_jobs = jobs;
        *ret_n = n;
        return 0;
}

/* ---- The checks of one step ------------------------------------------------------------------- */

/* Verbose: shared vCPUs the planner itself booked on node n for the first m placements. */
static unsigned planner_booked(const Host *h, const Placement *const *pls, unsigned m, unsigned n) {
        int pn = topology_node_index(h->t, h->node_os[n]);
        unsigned sum = 0;
        for (unsigned i = 0; pn >= 0 && i < m; i++)
                if (pls[i]->admitted && !pls[i]->adopted && pls[i]->shared_vcpus)
                        sum += pls[i]->shared_vcpus[pn];
        return sum;
}

/* Counts an avoidable split of the domain just placed, the last of pls (before: the state
 * before it came). */
static void check_splits(const Host *h, const State *before, const Job *job, const Placement *const *pls, unsigned m,
                         Counts *k) {
        const Placement *pl = pls[m - 1];
        _cleanup_bitmap_ hwloc_bitmap_t ded = hwloc_bitmap_alloc(), flt = hwloc_bitmap_alloc();
        if (!ded || !flt)
                return;
        state_vcpu_sets(pl, ded, flt);
        bool shared = job->cls->cpu_policy == CPU_POLICY_SHARED;
        hwloc_const_bitmap_t set = shared ? flt : ded;
        char l3s[256], nodes[256];
        unsigned n_l3 = host_groups_touched(h->l3_cpus, h->n_l3s, set, l3s, sizeof(l3s), NULL);
        unsigned n_node = host_groups_touched(h->node_cpus, h->n_nodes, set, nodes, sizeof(nodes), h->node_os);
        unsigned units = 0;
        k->l3_spans += !shared && job->cls->cache_locality == CACHE_LOCALITY_L3 && n_l3 > 1;
        k->numa_spans += n_node > 1;
        if (!shared && job->cls->cache_locality == CACHE_LOCALITY_L3 && n_l3 > 1) {
                int g = state_dedicated_room(h, before, job, true, &units);
                if (g >= 0) {
                        k->l3_splits++;
                        if (verbose)
                                printf("    avoidable L3 split: %s (%s, %u vCPUs) on L3 %s (nodes %s); L3 %u of node "
                                       "%u had %u units free\n",
                                       pl->name, job->cls->name, job->vcpus, l3s, nodes, (unsigned) g / h->n_nodes,
                                       h->node_os[(unsigned) g % h->n_nodes], units);
                }
        }
        if (n_node > 1 && job->cls->cache_locality != CACHE_LOCALITY_NONE) {
                int g = shared ? state_shared_room(h, before, job)
                               : state_dedicated_room(h, before, job, false, &units);
                if (g >= 0) {
                        k->numa_splits++;
                        if (verbose && shared)
                                printf("    avoidable NUMA split: %s (%s, %u vCPUs) on nodes %s; node %u could hold "
                                       "it (%u shared CPUs there, %.1f/%.1f shared vCPUs prop/equal; the planner "
                                       "had booked %u there)\n",
                                       pl->name, job->cls->name, job->vcpus, nodes, h->node_os[g],
                                       before->shared_cpus[g], before->prop[g], before->equal[g],
                                       planner_booked(h, pls, m - 1, (unsigned) g));
                        else if (verbose)
                                printf("    avoidable NUMA split: %s (%s, %u vCPUs) on nodes %s; node %u had %u units "
                                       "free within its shared budget\n",
                                       pl->name, job->cls->name, job->vcpus, nodes, h->node_os[g], units);
                }
        }
}

/* Verbose: the shared domains on node n, their float CPUs there and in all, and what the planner
 * booked on that node for them (its own accounting, shown for comparison only). */
static void explain_node(const Host *h, const Placement *const *pls, unsigned m, unsigned n) {
        _cleanup_bitmap_ hwloc_bitmap_t ded = hwloc_bitmap_alloc(), flt = hwloc_bitmap_alloc();
        int pn = topology_node_index(h->t, h->node_os[n]);
        for (unsigned i = 0; ded && flt && i < m; i++) {
                if (!pls[i]->admitted || pls[i]->adopted)
                        continue;
                state_vcpu_sets(pls[i], ded, flt);
                if (hwloc_bitmap_iszero(flt))
                        continue;
                hwloc_bitmap_and(ded, flt, h->node_cpus[n]);
                if (hwloc_bitmap_iszero(ded))
                        continue;
                unsigned n_shared = 0;
                for (unsigned v = 0; v < pls[i]->n_vcpus; v++)
                        n_shared += !pls[i]->vcpus[v].dedicated;
                char nodes[128];
                host_groups_touched(h->node_cpus, h->n_nodes, flt, nodes, sizeof(nodes), h->node_os);
                printf("      %s: %u shared vCPUs that may run on %d CPUs (%d on this node; nodes %s), planner booked "
                       "%u here\n",
                       pls[i]->name, n_shared, hwloc_bitmap_weight(flt), hwloc_bitmap_weight(ded), nodes,
                       pn >= 0 && pls[i]->shared_vcpus ? pls[i]->shared_vcpus[pn] : 0);
        }
}

/* Nodes above their ratio after the step, by either count; each node counts once per machine. */
static void check_ratios(const Host *h, const State *s, const Placement *const *pls, unsigned m, Counts *k) {
        for (unsigned n = 0; n < h->n_nodes; n++) {
                for (int way = 0; way < 2; way++) {
                        double v = way ? s->equal[n] : s->prop[n];
                        if (v <= EPS)
                                continue;
                        bool over = s->shared_cpus[n] == 0 ||
                                    (s->limit[n] > 0 && v / s->shared_cpus[n] > s->limit[n] + EPS);
                        if (!over || hwloc_bitmap_isset(k->violated_nodes, n))
                                continue;
                        hwloc_bitmap_set(k->violated_nodes, n);
                        k->violations++;
                        if (!verbose)
                                continue;
                        printf("    ratio violation after %s: node %u has %.2f shared vCPUs (%s; %.2f the other way) "
                               "on %u shared CPUs, limit %.1f\n",
                               pls[m - 1]->name, h->node_os[n], v, way ? "equal split" : "by share of CPUs",
                               way ? s->prop[n] : s->equal[n], s->shared_cpus[n], s->limit[n]);
                        explain_node(h, pls, m, n);
                }
        }
}

/* ---- One machine ------------------------------------------------------------------------------ */

typedef struct Totals {
        const Workload *workload;
        unsigned machines, planner_vcpus, pinner_vcpus, violations, l3_splits, numa_splits, double_bookings;
        unsigned machines_violating, planner_isolated, pinner_isolated;
        unsigned machines_below, below_isolated; /* capacity < 1.00; of those, more isolated vCPUs admitted */
        double min_ratio, min_use, planner_cpus, pinner_cpus;
        char min_label[128];
} Totals;

/* Places every job in order as the daemon does (place, then refresh the shared float sets),
 * checking after each step. */
static int run_planner(const Host *h, const Topology *t, const Config *c, const Job *jobs, unsigned n, Counts *k) {
        _cleanup_(planner_freep) Planner *p = NULL;
        if (planner_new(t, c, &p) < 0)
                return -ENOMEM;
        State before = { 0 }, after = { 0 };
        int r = state_init(&before, h->n_nodes);
        if (r >= 0)
                r = state_init(&after, h->n_nodes);
        for (unsigned i = 0; r >= 0 && i < n; i++) {
                const Placement *pl;
                r = planner_place(p, jobs[i].req, &pl);
                if (r < 0 || (r = planner_refresh_shared(p)) < 0)
                        break;
                unsigned m;
                const Placement *const *pls = planner_placements(p, &m);
                state_compute(h, jobs, pls, m, &after, k);
                if (pl->admitted) {
                        k->planner_vcpus += jobs[i].vcpus;
                        k->planner_shared += jobs[i].cls->cpu_policy == CPU_POLICY_SHARED ? jobs[i].vcpus : 0;
                        k->planner_isolated += jobs[i].cls->thread_policy == THREAD_POLICY_ISOLATE ? jobs[i].vcpus : 0;
                        if (jobs[i].cls->cpu_policy == CPU_POLICY_SHARED)
                                k->planner_cpus += jobs[i].cls->overcommit > 0 ? jobs[i].vcpus / jobs[i].cls->overcommit
                                                                               : jobs[i].vcpus;
                        check_splits(h, &before, &jobs[i], pls, m, k);
                }
                check_ratios(h, &after, pls, m, k);
                if (verbose_refusals && !pl->admitted)
                        printf("    refused %s (%s, %u vCPUs): %s\n", pl->name, jobs[i].cls->name, jobs[i].vcpus,
                               pl->reason ? pl->reason : "?");
                k->refused_memory += !pl->admitted && pl->reason &&
                                     (strstr(pl->reason, "memory") || strstr(pl->reason, "hugepages"));
                State swap = before;
                before = after;
                after = swap;
        }
        if (r >= 0)
                k->planner_cpus += hwloc_bitmap_weight(before.held);
        state_clear(&before);
        state_clear(&after);
        return r;
}

static void print_row(const char *label, const Host *h, unsigned n_jobs, const Counts *k, Totals *tot) {
        double ratio = k->pinner_vcpus ? (double) k->planner_vcpus / k->pinner_vcpus : 1.0;
        double use = k->pinner_cpus > 0 ? k->planner_cpus / k->pinner_cpus : 1.0;
        char iso[24];
        snprintf(iso, sizeof(iso), "%u/%u", k->planner_isolated, k->pinner_isolated);
        printf("%-52.52s %5u %5u %4u %5u %7u %7u %6.3f %6.3f %7s %5u %5u %5u %5u\n", label,
               (unsigned) hwloc_bitmap_weight(h->usable), h->n_nodes, h->n_l3s, n_jobs, k->planner_vcpus,
               k->pinner_vcpus, ratio, use, iso, k->violations, k->l3_splits, k->numa_splits, k->double_bookings);
        if (verbose)
                printf("    %u l3-class domains span L3 domains, %u domains span nodes (avoidable or not)\n",
                       k->l3_spans, k->numa_spans);
        if (k->refused_memory)
                printf("    (%u domains refused for memory: memory decided there, not only CPUs)\n", k->refused_memory);
        fflush(stdout);
        tot->machines++;
        tot->planner_vcpus += k->planner_vcpus;
        tot->pinner_vcpus += k->pinner_vcpus;
        tot->planner_cpus += k->planner_cpus;
        tot->pinner_cpus += k->pinner_cpus;
        tot->planner_isolated += k->planner_isolated;
        tot->pinner_isolated += k->pinner_isolated;
        if (tot->machines == 1 || use < tot->min_use)
                tot->min_use = use;
        tot->violations += k->violations;
        tot->machines_violating += k->violations > 0;
        tot->l3_splits += k->l3_splits;
        tot->numa_splits += k->numa_splits;
        tot->double_bookings += k->double_bookings;
        tot->machines_below += ratio < 1.0 - EPS;
        tot->below_isolated += ratio < 1.0 - EPS && k->planner_isolated > k->pinner_isolated;
        if (tot->machines == 1 || ratio < tot->min_ratio) {
                tot->min_ratio = ratio;
                snprintf(tot->min_label, sizeof(tot->min_label), "%s", label);
        }
}

static int measure(const char *label, const Topology *t, const Config *c, Totals *tot) {
        _cleanup_(host_clear) Host h = { 0 };
        int r = host_load(t, c, &h);
        if (r < 0)
                return r;
        Job *jobs = NULL;
        unsigned n = 0;
        if ((r = make_jobs(&h, c, tot->workload->mix, &jobs, &n)) < 0)
                return r;
        Counts k = { .verbose = verbose,
                     .violated_nodes = hwloc_bitmap_alloc(),
                     .bad_cpus = hwloc_bitmap_alloc(),
                     .bad_float = calloc(n, sizeof(bool)) };
        if (!k.violated_nodes || !k.bad_cpus || !k.bad_float)
                r = -ENOMEM;
        if (verbose && r >= 0)
                printf("  %s:\n", label);
        if (r >= 0)
                r = run_planner(&h, t, c, jobs, n, &k);
        if (r >= 0) {
                k.pinner_vcpus = pinner_run(&h, jobs, n, &k.pinner_shared, &k.pinner_cpus, &k.pinner_isolated);
                if (verbose)
                        printf("    admitted: planner %u dedicated + %u shared vCPUs, pinner %u + %u\n",
                               k.planner_vcpus - k.planner_shared, k.planner_shared, k.pinner_vcpus - k.pinner_shared,
                               k.pinner_shared);
                print_row(label, &h, n, &k, tot);
        }
        hwloc_bitmap_free(k.violated_nodes);
        hwloc_bitmap_free(k.bad_cpus);
        free(k.bad_float);
        jobs_free(jobs, n);
        return r;
}

static int run_machine(const char *label, const TopologySource *src, const char *policy_dir, Totals *tot) {
        _cleanup_(topology_freep) Topology *t = NULL;
        int r = topology_load(src, &t);
        if (r < 0) {
                printf("%-52.52s skipped: the loader cannot build it (%s)\n", label, strerror(-r));
                return 0;
        }
        ConfigErrors errors = { 0 };
        _cleanup_(config_freep) Config *c = NULL;
        r = config_load(NULL, policy_dir, t, &c, &errors);
        if (r < 0) {
                _cleanup_free_ char *text = config_errors_format(&errors);
                fprintf(stderr, "bench: %s: %s", label, text ? text : "config error\n");
                config_errors_clear(&errors);
                return r;
        }
        config_errors_clear(&errors);
        r = measure(label, t, c, tot);
        if (r < 0)
                fprintf(stderr, "bench: %s: %s\n", label, strerror(-r));
        return r;
}

/* ---- main ------------------------------------------------------------------------------------- */

static int is_xml(const struct dirent *e) {
        size_t len = strlen(e->d_name);
        return len > 4 && strcmp(e->d_name + len - 4, ".xml") == 0;
}

static int run_corpus(const char *corpus, const char *policy_dir, Totals *tot) {
        struct dirent **names = NULL;
        int n = scandir(corpus, &names, is_xml, alphasort);
        if (n < 0) {
                printf("corpus: skipped, no topologies at %s\n", corpus);
                return 0;
        }
        int r = 0;
        for (int i = 0; i < n; i++) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", corpus, names[i]->d_name);
                if (r >= 0)
                        r = run_machine(names[i]->d_name, &(TopologySource){ .xml_path = path }, policy_dir, tot);
                free(names[i]);
        }
        free(names);
        return r;
}

static void print_header(const Workload *wl) {
        printf("placement-quality, %s workload: seed 0x%016llx; per machine, domains in arrival order until the "
               "vCPUs asked reach 2 x its usable CPUs:",
               wl->label, (unsigned long long) SEED);
        for (size_t i = 0; i < ELEMENTSOF(wl->mix); i++)
                if (wl->mix[i].percent)
                        printf(" %u%% %s", wl->mix[i].percent, wl->mix[i].name);
        printf(" (ded: prefer,l3; iso: isolate,l3; perf: performance,numa; vdi: shared 4:1,numa), sizes");
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++)
                printf("%s%u", i ? "," : " ", sizes[i]);
        printf(" (at most the largest node's dedicated CPUs), %d MiB per vCPU\n", MIB_PER_VCPU);
        printf("cap: planner / pinner vCPUs admitted; use: the CPUs those vCPUs occupy (held by dedicated ones, "
               "idle isolated siblings included, + shared vCPUs / Overcommit), planner / pinner; iso: isolated "
               "vCPUs admitted, planner/pinner\n");
        printf("%-52s %5s %5s %4s %5s %7s %7s %6s %6s %7s %5s %5s %5s %5s\n", "machine", "cpus", "nodes", "l3", "doms",
               "plan-v", "pin-v", "cap", "use", "iso", "ratio", "l3spl", "nuspl", "dbl");
}

static void print_totals(const Totals *tot) {
        char iso[24];
        snprintf(iso, sizeof(iso), "%u/%u", tot->planner_isolated, tot->pinner_isolated);
        printf("%-52s %5s %5s %4s %5s %7u %7u %6.3f %6.3f %7s %5u %5u %5u %5u\n", "TOTAL", "", "", "", "",
               tot->planner_vcpus, tot->pinner_vcpus,
               tot->pinner_vcpus ? (double) tot->planner_vcpus / tot->pinner_vcpus : 1.0,
               tot->pinner_cpus > 0 ? tot->planner_cpus / tot->pinner_cpus : 1.0, iso, tot->violations, tot->l3_splits,
               tot->numa_splits, tot->double_bookings);
        printf("minimum capacity ratio %.3f (%s), minimum use ratio %.3f; %u of %u machines with ratio violations; "
               "%u below capacity 1.00, %u of them with more isolated vCPUs admitted than the pinner\n",
               tot->min_ratio, tot->min_label, tot->min_use, tot->machines_violating, tot->machines,
               tot->machines_below, tot->below_isolated);
}

/* Every machine under one workload; returns 0 or a negative errno. */
static int run_workload(const Workload *wl, const char *corpus, const char *policy_dir) {
        static const char *synthetic[] = {
                "pack:2 numa:2(memory=64GiB) l3:2 core:8 pu:2",
                "numa:8(memory=64GiB) l3:1 core:16 pu:1",
                "numa:4(memory=64GiB) l3:4 core:4 pu:8",
                "numa:1(memory=256GiB) l3:12 core:8 pu:2",
        };
        Totals tot = { .workload = wl };
        print_header(wl);
        int r = run_corpus(corpus, policy_dir, &tot);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(synthetic); i++) {
                char label[128];
                snprintf(label, sizeof(label), "synthetic %s", synthetic[i]);
                r = run_machine(label, &(TopologySource){ .synthetic = synthetic[i] }, policy_dir, &tot);
        }
        if (tot.machines > 0)
                print_totals(&tot);
        return r;
}

static int write_policy(char *dir, char *path, size_t len) {
        if (!mkdtemp(dir))
                return -errno;
        snprintf(path, len, "%s/50-quality.conf", dir);
        _cleanup_fclose_ FILE *f = fopen(path, "we");
        if (!f)
                return -errno;
        return fputs(policy, f) < 0 ? -EIO : 0;
}

int main(int argc, char **argv) {
        const char *corpus = KVMTUNED_TOPOLOGIES_DIR, *env = getenv("KT_BENCH_VERBOSE");
        verbose = env && *env && strcmp(env, "0") != 0;
        verbose_refusals = env && strcmp(env, "2") == 0;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0)
                        verbose = true;
                else
                        corpus = argv[i];
        }
        char dir[] = "/tmp/kvmtuned-bench-XXXXXX", path[512];
        if (write_policy(dir, path, sizeof(path)) < 0) {
                fprintf(stderr, "bench: cannot write the policy under /tmp\n");
                return 1;
        }
        int r = 0;
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(workloads); i++) {
                if (i > 0)
                        printf("\n");
                r = run_workload(&workloads[i], corpus, dir);
        }
        unlink(path);
        rmdir(dir);
        return r < 0 ? 1 : 0;
}
