/* The status, domains and explain replies of the control socket. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "manager-internal.h"
#include "render.h"

static json_object *views_cpus_json(hwloc_const_bitmap_t set) {
        return render_cpuset_json(set);
}

/* Why HousekeepingCPUs=auto chose each node's core, one line per node; NULL (JSON null) when
 * HousekeepingCPUs is explicit. */
static json_object *views_housekeeping_auto_json(const HostConfig *h) {
        if (!h->housekeeping_auto || !h->housekeeping_why)
                return NULL;
        json_object *a = json_object_new_array();
        for (char **p = h->housekeeping_why; a && *p; p++)
                json_object_array_add(a, json_object_new_string(*p));
        return a;
}

json_object *manager_status_json(Manager *m) {
        const Topology *t = m->topology;
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object *daemon = json_object_new_object();
        json_object_object_add(daemon, "pid", json_object_new_int((int) getpid()));
        json_object_object_add(daemon, "uptime_seconds",
                               json_object_new_double((double) (manager_now_usec() - m->start_usec) / 1e6));
        json_object_object_add(daemon, "dry_run", json_object_new_boolean(m->opts.dry_run));
        json_object_object_add(daemon, "ready", json_object_new_boolean(m->ready));
        json_object_object_add(o, "daemon", daemon);

        json_object *lv = json_object_new_object();
        json_object_object_add(lv, "uri", json_object_new_string(m->opts.uri ? m->opts.uri : m->config->daemon.uri));
        json_object_object_add(lv, "connected", json_object_new_boolean(m->connected));
        json_object_object_add(lv, "state", json_object_new_string(m->connected                 ? "connected"
                                                                   : virtloop_connecting(m->virt) ? "connecting"
                                                                                                  : "retrying"));
        json_object_object_add(lv, "reconnects", json_object_new_int((int) m->reconnects));
        json_object_object_add(o, "libvirt", lv);
        json_object *hook = json_object_new_object();
        json_object_object_add(hook, "path", json_object_new_string(MANAGER_HOOK_PATH));
        json_object_object_add(hook, "installed", json_object_new_boolean(access(MANAGER_HOOK_PATH, X_OK) == 0));
        json_object_object_add(o, "hook", hook);
        char mount[256];
        json_object_object_add(
                o, "hugetlbfs",
                tuning_hugetlbfs_mounted(&m->tuning, 0, mount, sizeof(mount)) ? json_object_new_string(mount) : NULL);
        json_object_object_add(o, "journal_entries",
                               json_object_new_int(json_object_object_length(m->journal->settings) +
                                                   (int) json_object_array_length(m->journal->reservations)));

        _cleanup_free_ char *summary = NULL;
        render_topology_summary(t, &summary);
        json_object_object_add(o, "host", json_object_new_string(summary ? summary : ""));
        json_object *pools = json_object_new_object();
        json_object_object_add(pools, "housekeeping", views_cpus_json(m->config->host.housekeeping));
        json_object_object_add(pools, "dedicated", views_cpus_json(m->config->host.dedicated));
        json_object_object_add(pools, "shared", views_cpus_json(m->config->host.shared));
        json_object_object_add(o, "pools", pools);
        json_object_object_add(o, "housekeeping_auto", views_housekeeping_auto_json(&m->config->host));

        _cleanup_bitmap_ hwloc_bitmap_t held = hwloc_bitmap_alloc(), shared = hwloc_bitmap_alloc(),
                                        part = hwloc_bitmap_alloc();
        planner_held_cpus(m->planner, held);
        json_object *nodes = json_object_new_array();
        for (unsigned n = 0; n < t->n_nodes; n++) {
                json_object *no = json_object_new_object();
                hwloc_bitmap_and(part, t->nodes[n].cpuset, held);
                planner_shared_cpus(m->planner, n, shared);
                unsigned vcpus = planner_shared_vcpus(m->planner, n), sc = (unsigned) hwloc_bitmap_weight(shared);
                json_object_object_add(no, "node", json_object_new_int((int) t->nodes[n].os));
                json_object_object_add(no, "cpus", json_object_new_int(hwloc_bitmap_weight(t->nodes[n].cpuset)));
                json_object_object_add(no, "dedicated_held", json_object_new_int(hwloc_bitmap_weight(part)));
                json_object_object_add(no, "shared_cpus", json_object_new_int((int) sc));
                json_object_object_add(no, "shared_vcpus", json_object_new_int((int) vcpus));
                json_object_object_add(no, "shared_ratio", json_object_new_double(sc ? (double) vcpus / sc : 0));
                json_object_array_add(nodes, no);
        }
        json_object_object_add(o, "nodes", nodes);

        unsigned counts[DOMAIN_STATE_MAX] = { 0 };
        for (ManagedDomain *d = m->domains; d; d = d->next)
                counts[d->state]++;
        json_object *doms = json_object_new_object();
        for (int s = DOMAIN_NEW + 1; s < DOMAIN_STATE_MAX; s++)
                json_object_object_add(doms, lifecycle_state_name((DomainState) s), json_object_new_int((int) counts[s]));
        json_object_object_add(o, "domains", doms);
        json_object *actions = json_object_new_object();
        json_object_object_add(actions, "ok", json_object_new_int((int) m->actions_ok));
        json_object_object_add(actions, "failed", json_object_new_int((int) m->actions_failed));
        json_object_object_add(o, "actions", actions);
        return o;
}

json_object *manager_domains_json(Manager *m) {
        json_object *o = json_object_new_object(), *list = json_object_new_array();
        if (!o || !list) {
                json_object_put(o);
                json_object_put(list);
                return NULL;
        }
        json_object_object_add(o, "domains", list);
        planner_refresh_shared(m->planner);
        for (ManagedDomain *d = m->domains; d; d = d->next) {
                const Placement *pl = planner_find(m->planner, d->name);
                json_object *e = json_object_new_object();
                json_object_object_add(e, "name", json_object_new_string(d->name));
                json_object_object_add(e, "uuid", json_object_new_string(d->uuid));
                json_object_object_add(e, "class", pl ? json_object_new_string(pl->cls->name) : NULL);
                json_object_object_add(e, "state", json_object_new_string(lifecycle_state_name(d->state)));
                json_object_object_add(e, "reason", d->error ? json_object_new_string(d->error) : NULL);
                json_object_object_add(e, "vcpus",
                                       pl && pl->admitted ? render_vcpus_json(pl, true) : json_object_new_array());
                json_object_object_add(e, "emulator",
                                       pl && pl->admitted ? views_cpus_json(pl->emulator) : json_object_new_array());
                json_object_object_add(
                        e, "memory_mode",
                        pl && pl->admitted ? json_object_new_string(memory_policy_to_string(pl->memory_mode)) : NULL);
                json_object_object_add(e, "nodes",
                                       pl && pl->admitted ? views_cpus_json(pl->memory_nodes) : json_object_new_array());
                json_object_object_add(e, "pin_latency_us",
                                       d->pin_usec ? json_object_new_int64((int64_t) d->pin_usec) : NULL);
                json_object_array_add(list, e);
        }
        return o;
}

json_object *manager_explain_json(Manager *m, const char *name) {
        ManagedDomain *d = manager_find(m, name);
        const Placement *pl = d ? planner_find(m->planner, name) : NULL;
        if (!pl)
                return control_error("no domain called %s is managed", name);
        json_object *o = json_object_new_object(), *why = json_object_new_array(), *better = json_object_new_array();
        json_object_object_add(o, "name", json_object_new_string(name));
        json_object_object_add(o, "class", json_object_new_string(pl->cls->name));
        json_object_object_add(o, "state", json_object_new_string(lifecycle_state_name(d->state)));
        if (pl->reason)
                json_object_object_add(o, "reason", json_object_new_string(pl->reason));
        for (unsigned i = 0; i < pl->n_explain; i++)
                json_object_array_add(why, json_object_new_string(pl->explain[i]));
        host_explain(m, pl, why);
        json_object_object_add(o, "explain", why);

        /* What would be better: the same domain on this host with nothing else placed. */
        _cleanup_(planner_freep) Planner *alone = NULL;
        const Placement *ideal = NULL;
        if (d->req && planner_new(m->topology, m->config, &alone) == 0 && planner_place(alone, d->req, &ideal) == 0) {
                char line[512];
                if (!ideal->admitted)
                        snprintf(line, sizeof(line), "it does not fit even on an empty host: %s", ideal->reason);
                else if (!pl->admitted)
                        snprintf(line, sizeof(line),
                                 "on an empty host it would be admitted: other domains hold what it needs");
                else if (pl->admitted && ideal->admitted &&
                         !hwloc_bitmap_isequal(pl->memory_nodes, ideal->memory_nodes) &&
                         hwloc_bitmap_weight(ideal->memory_nodes) < hwloc_bitmap_weight(pl->memory_nodes))
                        snprintf(line, sizeof(line), "on an empty host it would span %d node(s) instead of %d",
                                 hwloc_bitmap_weight(ideal->memory_nodes), hwloc_bitmap_weight(pl->memory_nodes));
                else
                        snprintf(line, sizeof(line), "nothing better: this is where it would go on an empty host too");
                json_object_array_add(better, json_object_new_string(line));
                for (unsigned i = 0; i < ideal->n_explain; i++)
                        if (strncmp(ideal->explain[i], "fits", 4) == 0 || strncmp(ideal->explain[i], "larger", 6) == 0)
                                json_object_array_add(better, json_object_new_string(ideal->explain[i]));
        }
        json_object_object_add(o, "better", better);
        return o;
}
