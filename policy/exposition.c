/* Prometheus text exposition of kvmtuned's metrics. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "exposition.h"

/* Label values escape backslash, double quote and newline (the exposition format's rules). */
static void label(FILE *f, const char *name, const char *value, bool first) {
        fprintf(f, "%s%s=\"", first ? "" : ",", name);
        for (const char *p = value ? value : ""; *p; p++)
                switch (*p) {
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                default:
                        fputc(*p, f);
                }
        fputc('"', f);
}

static void label_int(FILE *f, const char *name, long value, bool first) {
        char buf[32] = "";
        if (value >= 0)
                snprintf(buf, sizeof(buf), "%ld", value);
        label(f, name, buf, first);
}

static void header(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void vcpu_counter(FILE *f, const ExpoSnapshot *s, const char *name, bool steal) {
        for (size_t i = 0; i < s->n_vcpus; i++) {
                const ExpoVcpu *v = &s->vcpus[i];
                fprintf(f, "%s{", name);
                label(f, "domain", v->domain, true);
                label_int(f, "vcpu", (long) v->vcpu, false);
                label(f, "class", v->class_name, false);
                /* Nanosecond counters keep 1 ns resolution however large (%.9g had 0.1 s after a year). */
                fprintf(f, "} %.9f\n", steal ? v->steal_seconds : v->run_seconds);
        }
}

int exposition_render(const ExpoSnapshot *s, char **ret_text) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        header(f, "kvmtuned_vcpu_steal_seconds_total", "counter",
               "Time the vCPU thread was runnable but waited for a host CPU (schedstat run_delay).");
        vcpu_counter(f, s, "kvmtuned_vcpu_steal_seconds_total", true);
        header(f, "kvmtuned_vcpu_run_seconds_total", "counter", "Time the vCPU thread ran on a host CPU.");
        vcpu_counter(f, s, "kvmtuned_vcpu_run_seconds_total", false);

        header(f, "kvmtuned_vcpu_info", "gauge",
               "Placement of each vCPU: its CPUs, and the core, L3 and node of a dedicated one (empty when it spans "
               "several).");
        for (size_t i = 0; i < s->n_vcpus; i++) {
                const ExpoVcpu *v = &s->vcpus[i];
                fputs("kvmtuned_vcpu_info{", f);
                label(f, "domain", v->domain, true);
                label_int(f, "vcpu", (long) v->vcpu, false);
                label(f, "cpus", v->cpus, false);
                label_int(f, "core", v->core, false);
                label_int(f, "l3", v->l3, false);
                label_int(f, "node", v->node, false);
                fputs("} 1\n", f);
        }

        header(f, "kvmtuned_domain_memory_bytes", "gauge",
               "Guest memory by NUMA node, from the QEMU process's numa_maps.");
        for (size_t i = 0; i < s->n_memory; i++) {
                fputs("kvmtuned_domain_memory_bytes{", f);
                label(f, "domain", s->memory[i].domain, true);
                label_int(f, "node", (long) s->memory[i].node, false);
                fprintf(f, "} %" PRIu64 "\n", s->memory[i].bytes);
        }

        header(f, "kvmtuned_cpus", "gauge",
               "CPUs of each node by set: housekeeping, held by dedicated vCPUs, shared, free.");
        static const char *const sets[] = { "housekeeping", "dedicated", "shared", "free" };
        for (size_t i = 0; i < s->n_nodes; i++) {
                const ExpoNode *n = &s->nodes[i];
                const unsigned values[] = { n->housekeeping, n->dedicated, n->shared, n->free };
                for (size_t k = 0; k < 4; k++) {
                        fputs("kvmtuned_cpus{", f);
                        label(f, "set", sets[k], true);
                        label_int(f, "node", (long) n->node, false);
                        fprintf(f, "} %u\n", values[k]);
                }
        }
        header(f, "kvmtuned_shared_overcommit_ratio", "gauge", "Shared vCPUs per shared CPU of the node.");
        for (size_t i = 0; i < s->n_nodes; i++) {
                fputs("kvmtuned_shared_overcommit_ratio{", f);
                label_int(f, "node", (long) s->nodes[i].node, true);
                fprintf(f, "} %.6g\n", s->nodes[i].shared_ratio);
        }

        header(f, "kvmtuned_hugepages", "gauge",
               "Hugepages per node and size: pool total, free, and reserved by kvmtuned.");
        for (size_t i = 0; i < s->n_hugepages; i++) {
                const ExpoHugepages *h = &s->hugepages[i];
                static const char *const states[] = { "total", "free", "reserved" };
                const uint64_t values[] = { h->total, h->free, h->reserved };
                for (size_t k = 0; k < 3; k++) {
                        fputs("kvmtuned_hugepages{", f);
                        label_int(f, "node", (long) h->node, true);
                        label_int(f, "page_kib", (long) h->page_kib, false);
                        label(f, "state", states[k], false);
                        fprintf(f, "} %" PRIu64 "\n", values[k]);
                }
        }

        header(f, "kvmtuned_actions_total", "counter", "Host and libvirt actions kvmtuned took, by result.");
        for (size_t i = 0; i < s->n_actions; i++) {
                fputs("kvmtuned_actions_total{", f);
                label(f, "action", s->actions[i].action, true);
                label(f, "result", s->actions[i].result, false);
                fprintf(f, "} %" PRIu64 "\n", s->actions[i].count);
        }
        header(f, "kvmtuned_libvirt_connected", "gauge", "1 while kvmtuned holds a connection to libvirt.");
        fprintf(f, "kvmtuned_libvirt_connected %d\n", s->libvirt_connected ? 1 : 0);
        header(f, "kvmtuned_reconnects_total", "counter", "Reconnections to libvirt after a lost connection.");
        fprintf(f, "kvmtuned_reconnects_total %" PRIu64 "\n", s->reconnects);

        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret_text = buf;
        return 0;
}
