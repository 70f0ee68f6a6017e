/* The statistics side of the Manager: the collector pass over running domains, steal and
 * memory-locality warnings, the Prometheus text and the "stats" rows for kvmtunectl top. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpulist.h"
#include "exposition.h"
#include "macro.h"
#include "manager.h"
#include "nodemem.h"
#include "procstat.h"

#define QEMU_RUN_DIR "/run/libvirt/qemu"
#define NUMA_MAPS_EVERY 60 /* passes (5 min at 5 s): walking the page tables is the costly part */
#define STEAL_WARN_INTERVALS 3
#define OFF_NODE_WARN_PERCENT 10

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t cpu_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static const char *procfs(Manager *m) {
        return m->opts.procfs ? m->opts.procfs : "/proc";
}

/* Finds (again) the QEMU process and its vCPU threads; false when the domain has none. */
static bool attach(Manager *m, ManagedDomain *d, unsigned n_vcpus) {
        if (!d->stats || d->stats->n_vcpus != n_vcpus) {
                stats_free(d->stats);
                if (!(d->stats = stats_new(n_vcpus, m->topology->n_nodes)))
                        return false;
        }
        if (!d->stats->pid)
                d->stats->pid = stats_qemu_pid(QEMU_RUN_DIR, d->name);
        return d->stats->pid != 0;
}

static void warn_steal(Manager *m, ManagedDomain *d, const Placement *pl, unsigned v) {
        VcpuStats *s = &d->stats->vcpus[v];
        if (!pl || v >= pl->n_vcpus || !pl->vcpus[v].dedicated) {
                s->over = 0;
                return;
        }
        if (s->steal_pct <= m->config->daemon.steal_warn_percent) {
                s->over = 0;
                return;
        }
        if (++s->over != STEAL_WARN_INTERVALS)
                return;
        _cleanup_free_ char *cpus = placement_vcpu_cpulist(pl, v);
        const char *cause = m->memos[ACTUATOR_ISOLATION].applied_for ? "another vCPU or a kernel thread on that CPU (host processes are isolated)"
                                           : "host processes on that CPU (IsolateHost is not active)";
        log_emit(&m->log, LOG_WARNING,
                 &(LogFields){ .domain = d->name, .action = "steal", .vcpu = (int) v, .cpus = cpus },
                 "%s vCPU %u on CPU %s: steal above %g %% for %d intervals (%.1f %% now); likely cause: %s", d->name, v,
                 cpus ? cpus : "?", m->config->daemon.steal_warn_percent, STEAL_WARN_INTERVALS, s->steal_pct, cause);
}

/* numa_maps needs ptrace access to QEMU, which runs as another user: the shipped unit does not
 * grant CAP_SYS_PTRACE, so there the machine's cgroup v2 group answers instead. */
static int read_memory(Manager *m, pid_t pid, uint64_t *bytes) {
        int r = procstat_read_numa_maps(procfs(m), pid, bytes, PROCSTAT_MAX_NODES);
        if (r >= 0)
                return r;
        _cleanup_free_ char *cgroup = NULL;
        if (procstat_machine_cgroup(procfs(m), pid, &cgroup) < 0)
                return r;
        return procstat_read_cgroup_numa(m->tuning.sysfs, cgroup, bytes, PROCSTAT_MAX_NODES);
}

static void collect_memory(Manager *m, ManagedDomain *d, const Placement *pl) {
        DomainStats *s = d->stats;
        uint64_t bytes[PROCSTAT_MAX_NODES];
        if (read_memory(m, s->pid, bytes) < 0)
                return;
        /* Only a binding in force can be missed: not a refused or not yet applied placement's. */
        bool bound = pl && pl->admitted && pl->memory_mode == MEMORY_STRICT &&
                     (d->state == DOMAIN_PLACED || d->state == DOMAIN_ADOPTED);
        uint64_t total = 0, off = 0;
        for (unsigned n = 0; n < m->topology->n_nodes; n++) {
                unsigned os = m->topology->nodes[n].os;
                s->node_bytes[n] = os < PROCSTAT_MAX_NODES ? bytes[os] : 0;
                total += s->node_bytes[n];
                if (bound && !hwloc_bitmap_isset(pl->memory_nodes, os))
                        off += s->node_bytes[n];
        }
        /* What it touched is in the live figures: admission stops counting that part twice. */
        uint64_t kib[PROCSTAT_MAX_NODES];
        for (unsigned n = 0; n < m->topology->n_nodes && n < PROCSTAT_MAX_NODES; n++)
                kib[n] = s->node_bytes[n] / 1024;
        if (pl && pl->admitted && m->topology->n_nodes <= PROCSTAT_MAX_NODES)
                (void) planner_memory_use(m->planner, d->name, MEMORY_USE_STARTED, kib);
        bool bad = total > 0 && off * 100 > total * OFF_NODE_WARN_PERCENT;
        if (bad && !s->memory_warned)
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .domain = d->name, .action = "memory", .vcpu = -1 },
                         "%s: %.0f %% of its memory is off the nodes it is bound to strictly", d->name,
                         100.0 * (double) off / (double) total);
        s->memory_warned = bad;
}

void manager_collect_stats(Manager *m) {
        uint64_t t0 = cpu_usec();
        for (ManagedDomain *d = m->domains; d; d = d->next) {
                const Placement *pl = planner_find(m->planner, d->name);
                unsigned n = d->req ? d->req->vcpus : 0;
                if (n == 0 || n > PROCSTAT_MAX_VCPUS || !attach(m, d, n))
                        continue;
                DomainStats *s = d->stats;
                pid_t tids[PROCSTAT_MAX_VCPUS];
                bool fresh = s->passes == 0;
                if (fresh || s->rescan) {
                        if (procstat_vcpu_threads(procfs(m), s->pid, tids, n) <= 0) {
                                s->pid = 0; /* a restarted domain has a new process */
                                continue;
                        }
                        s->rescan = false;
                } else
                        for (unsigned v = 0; v < n; v++)
                                tids[v] = s->vcpus[v].tid;
                uint64_t now = now_usec(), interval = s->last_usec ? (now - s->last_usec) * 1000 : 0;
                for (unsigned v = 0; v < n; v++) {
                        ThreadStat st;
                        if (!tids[v])
                                continue;
                        if (procstat_read_thread(procfs(m), s->pid, tids[v], &st) < 0) {
                                /* the thread vanished (vCPU unplugged, domain restarting): look again next pass */
                                s->vcpus[v].tid = 0;
                                s->rescan = true;
                                continue;
                        }
                        stats_advance(&s->vcpus[v], tids[v], &st, interval);
                        warn_steal(m, d, pl, v);
                }
                if (s->passes % NUMA_MAPS_EVERY == 0)
                        collect_memory(m, d, pl);
                s->last_usec = now;
                s->passes++;
        }
        m->stats_passes++;
        m->stats_cpu_usec += cpu_usec() - t0;
}

static void vcpu_context(Manager *m, const Placement *pl, unsigned v, ExpoVcpu *e) {
        e->core = e->l3 = e->node = -1;
        if (!pl || v >= pl->n_vcpus)
                return;
        int cpu = placement_vcpu_cpu(pl, v);
        if (cpu >= 0) {
                const TopoCpu *c = topology_cpu(m->topology, (unsigned) cpu);
                if (c) {
                        e->core = c->core;
                        e->l3 = c->l3;
                        e->node = c->node >= 0 ? (int) m->topology->nodes[c->node].os : -1;
                }
        } else if (hwloc_bitmap_weight(pl->memory_nodes) == 1)
                e->node = hwloc_bitmap_first(pl->memory_nodes);
}

/* kvmtuned_actions_total: pins, and every host actuator that applies (hugepages: counted by
 * the hook's admissions, not here). Returns how many into actions (2 + 2 x ACTUATOR_COUNT room). */
static size_t collect_actions(const Manager *m, ExpoAction *actions) {
        size_t n = 0;
        actions[n++] = (ExpoAction){ "pin", "ok", m->actions_ok };
        actions[n++] = (ExpoAction){ "pin", "failed", m->actions_failed };
        for (unsigned i = 0; i < ACTUATOR_COUNT; i++) {
                const Actuator *a = actuator_get((ActuatorId) i);
                if (!a->apply)
                        continue;
                actions[n++] = (ExpoAction){ a->name, "ok", m->host_ok[i] };
                actions[n++] = (ExpoAction){ a->name, "failed", m->host_failed[i] };
        }
        return n;
}

char *manager_metrics_text(Manager *m) {
        const Topology *t = m->topology;
        planner_refresh_shared(m->planner);
        size_t nv = 0, nm = 0, nh = 0;
        for (ManagedDomain *d = m->domains; d; d = d->next)
                if (d->stats) {
                        nv += d->stats->n_vcpus;
                        nm += t->n_nodes;
                }
        _cleanup_free_ ExpoVcpu *vcpus = calloc(nv + 1, sizeof(ExpoVcpu));
        _cleanup_free_ ExpoMemory *mem = calloc(nm + 1, sizeof(ExpoMemory));
        _cleanup_free_ ExpoNode *nodes = calloc(t->n_nodes + 1, sizeof(ExpoNode));
        _cleanup_free_ ExpoHugepages *hp =
                calloc((size_t) t->n_nodes * NODEMEM_MAX_PAGE_SIZES + 1, sizeof(ExpoHugepages));
        _cleanup_free_ char **lists = calloc(nv + 1, sizeof(char *));
        if (!vcpus || !mem || !nodes || !hp || !lists)
                return NULL;

        nv = nm = 0;
        for (ManagedDomain *d = m->domains; d; d = d->next) {
                if (!d->stats)
                        continue;
                const Placement *pl = planner_find(m->planner, d->name);
                for (unsigned v = 0; v < d->stats->n_vcpus; v++) {
                        ExpoVcpu *e = &vcpus[nv];
                        e->domain = d->name;
                        e->class_name = pl ? pl->cls->name : "";
                        e->vcpu = v;
                        e->steal_seconds = (double) d->stats->vcpus[v].delay_ns / 1e9;
                        e->run_seconds = (double) d->stats->vcpus[v].run_ns / 1e9;
                        lists[nv] = pl && pl->admitted && v < pl->n_vcpus ? placement_vcpu_cpulist(pl, v) : NULL;
                        e->cpus = lists[nv] ? lists[nv] : "";
                        vcpu_context(m, pl && pl->admitted ? pl : NULL, v, e);
                        nv++;
                }
                for (unsigned n = 0; n < t->n_nodes; n++)
                        if (d->stats->node_bytes[n])
                                mem[nm++] = (ExpoMemory){ d->name, t->nodes[n].os, d->stats->node_bytes[n] };
        }

        _cleanup_bitmap_ hwloc_bitmap_t held = hwloc_bitmap_alloc(), shared = hwloc_bitmap_alloc(),
                                        part = hwloc_bitmap_alloc(), rest = hwloc_bitmap_alloc();
        planner_held_cpus(m->planner, held);
        for (unsigned n = 0; n < t->n_nodes; n++) {
                ExpoNode *e = &nodes[n];
                e->node = t->nodes[n].os;
                /* Each CPU counts once, for the node the planner counts it for (CPUs without local
                 * memory included); free is what is left, never a difference that can wrap. */
                planner_node_cpus(m->planner, n, rest);
                hwloc_bitmap_and(part, rest, m->config->host.housekeeping);
                e->housekeeping = (unsigned) hwloc_bitmap_weight(part);
                hwloc_bitmap_andnot(rest, rest, part);
                hwloc_bitmap_and(part, rest, held);
                e->dedicated = (unsigned) hwloc_bitmap_weight(part);
                hwloc_bitmap_andnot(rest, rest, part);
                planner_shared_cpus(m->planner, n, shared);
                unsigned vc = planner_shared_vcpus(m->planner, n);
                hwloc_bitmap_and(part, rest, shared);
                e->shared = vc ? (unsigned) hwloc_bitmap_weight(part) : 0;
                if (vc)
                        hwloc_bitmap_andnot(rest, rest, part);
                e->free = (unsigned) hwloc_bitmap_weight(rest);
                e->shared_ratio = e->shared ? (double) vc / e->shared : 0;
                NodeMemory nm_info;
                if (nodemem_read(m->tuning.sysfs, e->node, &nm_info) == 0)
                        for (unsigned i = 0; i < nm_info.n_hugepages; i++)
                                hp[nh++] = (ExpoHugepages){ e->node, nm_info.hugepages[i].page_kib,
                                                            nm_info.hugepages[i].total, nm_info.hugepages[i].free,
                                                            journal_added_pages(m->journal, e->node,
                                                                                nm_info.hugepages[i].page_kib) };
        }
        ExpoAction actions[2 + 2 * ACTUATOR_COUNT];
        size_t n_actions = collect_actions(m, actions);
        ExpoSnapshot snap = { .vcpus = vcpus,
                              .n_vcpus = nv,
                              .memory = mem,
                              .n_memory = nm,
                              .nodes = nodes,
                              .n_nodes = t->n_nodes,
                              .hugepages = hp,
                              .n_hugepages = nh,
                              .actions = actions,
                              .n_actions = n_actions,
                              .libvirt_connected = m->connected,
                              .reconnects = m->reconnects };
        char *text = NULL;
        exposition_render(&snap, &text);
        for (size_t i = 0; i < nv; i++)
                free(lists[i]);
        return text;
}

/* Highest steal first. */
static int by_steal(const void *a, const void *b) {
        json_object *x = *(json_object *const *) a, *y = *(json_object *const *) b, *vx, *vy;
        double sx = json_object_object_get_ex(x, "steal_percent", &vx) ? json_object_get_double(vx) : 0;
        double sy = json_object_object_get_ex(y, "steal_percent", &vy) ? json_object_get_double(vy) : 0;
        return (sx < sy) - (sx > sy);
}

json_object *manager_stats_json(Manager *m) {
        json_object *o = json_object_new_object(), *rows = json_object_new_array();
        if (!o || !rows) {
                json_object_put(o);
                json_object_put(rows);
                return NULL;
        }
        json_object_object_add(o, "interval_seconds",
                               json_object_new_double((double) m->config->daemon.stats_interval_usec / 1e6));
        json_object_object_add(o, "passes", json_object_new_int64((int64_t) m->stats_passes));
        json_object_object_add(o, "collector_cpu_seconds", json_object_new_double((double) m->stats_cpu_usec / 1e6));
        json_object_object_add(o, "vcpus", rows);
        for (ManagedDomain *d = m->domains; d; d = d->next) {
                if (!d->stats)
                        continue;
                const Placement *pl = planner_find(m->planner, d->name);
                for (unsigned v = 0; v < d->stats->n_vcpus; v++) {
                        const VcpuStats *s = &d->stats->vcpus[v];
                        ExpoVcpu ctx;
                        vcpu_context(m, pl && pl->admitted ? pl : NULL, v, &ctx);
                        _cleanup_free_ char *cpus =
                                pl && pl->admitted && v < pl->n_vcpus ? placement_vcpu_cpulist(pl, v) : NULL;
                        json_object *r = json_object_new_object();
                        json_object_object_add(r, "domain", json_object_new_string(d->name));
                        json_object_object_add(r, "class", pl ? json_object_new_string(pl->cls->name) : NULL);
                        json_object_object_add(r, "vcpu", json_object_new_int((int) v));
                        json_object_object_add(r, "cpus", json_object_new_string(cpus ? cpus : ""));
                        json_object_object_add(r, "node", ctx.node >= 0 ? json_object_new_int(ctx.node) : NULL);
                        json_object_object_add(r, "run_percent", json_object_new_double(s->run_pct));
                        json_object_object_add(r, "steal_percent", json_object_new_double(s->steal_pct));
                        json_object_object_add(r, "steal_seconds", json_object_new_double((double) s->delay_ns / 1e9));
                        json_object_object_add(r, "run_seconds", json_object_new_double((double) s->run_ns / 1e9));
                        json_object_array_add(rows, r);
                }
        }
        json_object_array_sort(rows, by_steal);
        return o;
}
