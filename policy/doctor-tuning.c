/* `kvmtunectl doctor`: the host-tuning checks (kernel command line, irqbalance, THP, cpufreq, NUMA
 * balancing, KSM, idle latency) against what the configuration will set. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "doctor.h"
#include "macro.h"

#define CMDLINE "kernel-cmdline"


/* "CPUs 1-3 are dedicated but not in it; CPUs 8 are in it but not dedicated" for the CPUs of want
 * missing from have and the other way round, into *ret_text. Returns 0 or -ENOMEM. */
static int difference(hwloc_const_bitmap_t have, hwloc_const_bitmap_t want, char **ret_text) {
        _cleanup_bitmap_ hwloc_bitmap_t missing = hwloc_bitmap_alloc(), extra = hwloc_bitmap_alloc();
        if (!missing || !extra)
                return -ENOMEM;
        hwloc_bitmap_andnot(missing, want, have);
        hwloc_bitmap_andnot(extra, have, want);
        _cleanup_free_ char *m = cpulist_format(missing), *e = cpulist_format(extra);
        if (!m || !e)
                return -ENOMEM;
        return asprintf(ret_text, "%s%s%s%s%s%s%s", m[0] ? "CPUs " : "", m, m[0] ? " are dedicated but not in it" : "",
                        m[0] && e[0] ? "; " : "", e[0] ? "CPUs " : "", e,
                        e[0] ? " are in it but not dedicated" : "") < 0
                       ? -ENOMEM
                       : 0;
}

/* name=value (flags: isolcpus's "domain,managed_irq," before the list) against the dedicated CPUs. */
static int compare_dedicated(const char *name, const char *value, const char *flags, hwloc_const_bitmap_t list,
                             const Config *c, DoctorReport *r) {
        if (hwloc_bitmap_isequal(list, c->host.dedicated))
                return doctor_add(r, DOCTOR_OK, CMDLINE, "%s=%s matches the dedicated CPUs", name, value);
        _cleanup_free_ char *why = NULL, *want = cpulist_format(c->host.dedicated);
        if (!want || difference(list, c->host.dedicated, &why) < 0)
                return -ENOMEM;
        if (!want[0])
                return doctor_add(r, DOCTOR_WARNING, CMDLINE, "%s=%s, but no CPU is dedicated: remove it", name, value);
        return doctor_add(r, DOCTOR_WARNING, CMDLINE,
                          "%s=%s differs from the dedicated CPUs %s (%s): set %s=%s%s on the kernel command line", name,
                          value, want, why, name, flags, want);
}

/* isolcpus=[flag,...,]LIST: the flags (with their commas) in flags, the list after them. */
static const char *isolcpus_list(const char *value, char *flags, size_t size) {
        const char *p = value;
        while (isalpha((unsigned char) *p) && strchr(p, ','))
                p = strchr(p, ',') + 1;
        snprintf(flags, size, "%.*s", (int) (p - value), value);
        return p;
}

static int check_param(const char *name, const char *value, const Config *c, DoctorReport *r) {
        char flags[64] = "";
        const char *text = strcmp(name, "isolcpus") == 0 ? isolcpus_list(value, flags, sizeof(flags)) : value;
        const char *reason = NULL;
        _cleanup_bitmap_ hwloc_bitmap_t list = NULL;
        int k = cpulist_parse(text, &list, &reason);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return doctor_add(r, DOCTOR_WARNING, CMDLINE, "%s=%s is not a CPU list the kernel reads (%s): fix it",
                                  name, value, reason);
        if (strcmp(name, "irqaffinity") != 0)
                return compare_dedicated(name, value, flags, list, c, r);
        /* IRQs by default on these CPUs: they must stay off the dedicated ones. */
        if (!hwloc_bitmap_intersects(list, c->host.dedicated))
                return doctor_add(r, DOCTOR_OK, CMDLINE, "irqaffinity=%s keeps IRQs off the dedicated CPUs", value);
        _cleanup_bitmap_ hwloc_bitmap_t both = hwloc_bitmap_alloc();
        if (!both)
                return -ENOMEM;
        hwloc_bitmap_and(both, list, c->host.dedicated);
        _cleanup_free_ char *on = cpulist_format(both), *hk = cpulist_format(c->host.housekeeping);
        if (!on || !hk)
                return -ENOMEM;
        return doctor_add(r, DOCTOR_WARNING, CMDLINE,
                          "irqaffinity=%s sends IRQs to the dedicated CPUs %s: set irqaffinity=%s (the housekeeping "
                          "CPUs) on the kernel command line",
                          value, on, hk);
}

static int check_cmdline(const HostFacts *f, const Config *c, DoctorReport *r) {
        if (!f->cmdline)
                return doctor_add(r, DOCTOR_WARNING, CMDLINE, "cannot read the kernel command line (/proc/cmdline)");
        if (!f->nohz_full && !f->isolcpus && !f->irqaffinity)
                return doctor_add(r, DOCTOR_OK, CMDLINE,
                                  "no nohz_full=, isolcpus= or irqaffinity=: kvmtuned keeps host tasks off the "
                                  "dedicated CPUs at runtime (IsolateHost=)");
        const struct {
                const char *name, *value;
        } params[] = { { "nohz_full", f->nohz_full }, { "isolcpus", f->isolcpus }, { "irqaffinity", f->irqaffinity } };
        for (size_t i = 0; i < ELEMENTSOF(params); i++)
                if (params[i].value && check_param(params[i].name, params[i].value, c, r) < 0)
                        return -ENOMEM;
        return 0;
}

static int check_irqbalance(const HostFacts *f, const Config *c, DoctorReport *r) {
        if (f->irqbalance_pid <= 0)
                return doctor_add(r, DOCTOR_OK, "irqbalance", "irqbalance is not running");
        if (c->host.irq_affinity == IRQ_AFFINITY_KEEP)
                return doctor_add(r, DOCTOR_OK, "irqbalance",
                                  "irqbalance (pid %d) runs; IRQAffinity=keep leaves IRQs to it", f->irqbalance_pid);
        _cleanup_bitmap_ hwloc_bitmap_t banned = NULL;
        const char *reason;
        if (f->irqbalance_banned && cpulist_parse(f->irqbalance_banned, &banned, &reason) == -ENOMEM)
                return -ENOMEM;
        if (banned && hwloc_bitmap_isincluded(c->host.dedicated, banned))
                return doctor_add(r, DOCTOR_OK, "irqbalance",
                                  "irqbalance (pid %d) runs with IRQBALANCE_BANNED_CPULIST=%s, which covers the "
                                  "dedicated CPUs",
                                  f->irqbalance_pid, f->irqbalance_banned);
        _cleanup_free_ char *dedicated = cpulist_format(c->host.dedicated);
        if (!dedicated)
                return -ENOMEM;
        return doctor_add(r, DOCTOR_WARNING, "irqbalance",
                          "irqbalance (pid %d) runs and will move IRQs back onto the dedicated CPUs that "
                          "IRQAffinity=away-from-dedicated clears: set IRQBALANCE_BANNED_CPULIST=%s in "
                          "/etc/default/irqbalance and restart it, or stop it (systemctl disable --now irqbalance)",
                          f->irqbalance_pid, dedicated);
}

static int check_thp(const HostFacts *f, const Config *c, DoctorReport *r) {
        static const char *const modes[] = { "keep", "always", "madvise", "never" };
        const char *want = modes[c->host.thp];
        if (!f->thp[0] && c->host.thp == THP_KEEP)
                return doctor_add(r, DOCTOR_OK, "thp",
                                  "no transparent hugepages in this kernel; TransparentHugepages=keep");
        if (!f->thp[0])
                return doctor_add(r, DOCTOR_WARNING, "thp",
                                  "TransparentHugepages=%s, but this kernel has no transparent hugepages: set "
                                  "TransparentHugepages=keep",
                                  want);
        if (c->host.thp == THP_KEEP)
                return doctor_add(r, DOCTOR_OK, "thp", "transparent hugepages: %s; TransparentHugepages=keep leaves it",
                                  f->thp);
        return doctor_add(r, DOCTOR_OK, "thp",
                          "transparent hugepages: %s; TransparentHugepages=%s %s while kvmtuned runs", f->thp, want,
                          strcmp(f->thp, want) == 0 ? "keeps it" : "sets it");
}

static int check_cpufreq(const HostFacts *f, const Config *c, DoctorReport *r) {
        const char *ded = c->host.governor_dedicated, *idle = c->host.governor_idle;
        if (!f->cpufreq_driver)
                return doctor_add(r, DOCTOR_OK, "cpufreq",
                                  "no cpufreq on this host (a VM, or the firmware sets frequencies): governors left "
                                  "alone%s",
                                  ded && idle ? ", GovernorDedicated= and GovernorIdle= have no effect"
                                  : ded       ? ", GovernorDedicated= has no effect"
                                  : idle      ? ", GovernorIdle= has no effect"
                                              : "");
        const char *avail = f->governors ? f->governors : "";
        bool ded_bad = ded && f->governors && !hostfacts_has_word(avail, ded);
        bool idle_bad = idle && f->governors && !hostfacts_has_word(avail, idle);
        if (ded_bad || idle_bad)
                return doctor_add(r, DOCTOR_WARNING, "cpufreq",
                                  "%s%s%s%s%s is not offered by cpufreq driver %s (it offers: %s): set one of those, "
                                  "or keep",
                                  ded_bad ? "GovernorDedicated=" : "", ded_bad ? ded : "",
                                  ded_bad && idle_bad ? " and " : "", idle_bad ? "GovernorIdle=" : "",
                                  idle_bad ? idle : "", f->cpufreq_driver, avail[0] ? avail : "nothing");
        return doctor_add(r, DOCTOR_OK, "cpufreq",
                          "cpufreq driver %s, governors %s; GovernorDedicated=%s, GovernorIdle=%s", f->cpufreq_driver,
                          avail[0] ? avail : "unknown", ded ? ded : "keep", idle ? idle : "keep");
}

static bool any_strict(const Config *c) {
        for (size_t i = 0; i < c->n_classes; i++)
                if (c->classes[i].memory_policy == MEMORY_STRICT)
                        return true;
        return false;
}

static int check_numa_balancing(const HostFacts *f, const Config *c, const Topology *t, DoctorReport *r) {
        static const char check[] = "numa-balancing";
        int v = f->numa_balancing;
        if (v < 0)
                return doctor_add(r, DOCTOR_OK, check, "no NUMA balancing in this kernel (no kernel.numa_balancing)");
        if (v == 0)
                return doctor_add(r, DOCTOR_OK, check, "kernel.numa_balancing is 0 (off)");
        if (c->host.numa_balancing == NUMA_BALANCING_OFF_WHILE_STRICT)
                return doctor_add(r, DOCTOR_OK, check,
                                  "kernel.numa_balancing is %d; NumaBalancing=off-while-strict turns it off while "
                                  "strict VMs run",
                                  v);
        if (t->n_nodes > 1 && any_strict(c))
                return doctor_add(r, DOCTOR_WARNING, check,
                                  "kernel.numa_balancing is %d and NumaBalancing=keep: the kernel keeps scanning the "
                                  "memory of strictly bound VMs, which cannot move; set NumaBalancing=off-while-strict",
                                  v);
        return doctor_add(r, DOCTOR_OK, check, "kernel.numa_balancing is %d; NumaBalancing=keep leaves it", v);
}

static int check_ksm(const HostFacts *f, const Config *c, const Topology *t, DoctorReport *r) {
        static const char check[] = "ksm";
        if (f->ksm_run < 0)
                return doctor_add(r, DOCTOR_OK, check, "no KSM in this kernel");
        if (f->ksm_run != 1)
                return doctor_add(r, DOCTOR_OK, check, "KSM is off (run=%d)%s", f->ksm_run,
                                  c->host.ksm == KSM_ON ? "; KSM=on starts it" : "");
        if (c->host.ksm == KSM_OFF)
                return doctor_add(r, DOCTOR_OK, check,
                                  "KSM runs; KSM=off stops it (pages merged already stay merged until echo 2 > "
                                  "/sys/kernel/mm/ksm/run)");
        if (t->n_nodes <= 1 || f->ksm_merge_across_nodes != 1)
                return doctor_add(r, DOCTOR_OK, check, "KSM runs%s",
                                  t->n_nodes <= 1                   ? " on a single NUMA node"
                                  : f->ksm_merge_across_nodes == 0 ? " with merge_across_nodes=0"
                                                                    : " (no merge_across_nodes: a kernel without NUMA)");
        bool on = c->host.ksm == KSM_ON;
        if (!any_strict(c))
                return doctor_add(r, DOCTOR_OK, check,
                                  "KSM runs with merge_across_nodes=1; no class binds memory strictly, so merging "
                                  "across nodes moves no strictly placed VM");
        char shared[32] = "unknown";
        if (f->ksm_pages_shared >= 0)
                snprintf(shared, sizeof(shared), "%" PRId64, f->ksm_pages_shared);
        if (on && f->ksm_pages_shared == 0)
                return doctor_add(r, DOCTOR_OK, check,
                                  "KSM runs with merge_across_nodes=1 and nothing merged; KSM=on sets it to 0 while "
                                  "strict VMs run");
        return doctor_add(r, DOCTOR_WARNING, check,
                          "KSM runs with merge_across_nodes=1 on a %u-node host: strict VMs get pages merged across "
                          "nodes; %s merge_across_nodes=0 only when pages_shared is 0 (it is %s); to do it "
                          "now: echo 2 > /sys/kernel/mm/ksm/run (unmerges all), then echo 0 > "
                          "/sys/kernel/mm/ksm/merge_across_nodes, then echo 1 > /sys/kernel/mm/ksm/run",
                          t->n_nodes, on ? "kvmtuned (KSM=on) sets" : "KSM=keep leaves it; KSM=on would set",
                          shared);
}

/* "gaming (poll), rt (20)": the classes with IdleLatency= other than keep, in *ret_names; NULL: none. */
static int idle_classes(const Config *c, char **ret_names) {
        char *names = NULL;
        for (size_t i = 0; i < c->n_classes; i++) {
                if (c->classes[i].idle_latency_us == IDLE_LATENCY_KEEP)
                        continue;
                char buf[16], *n = NULL;
                int k = asprintf(&n, "%s%s%s (%s)", names ? names : "", names ? ", " : "", c->classes[i].name,
                                 idle_latency_to_string(c->classes[i].idle_latency_us, buf, sizeof(buf)));
                free(names);
                if (k < 0)
                        return -ENOMEM;
                names = n;
        }
        *ret_names = names;
        return 0;
}

static int check_idle(const HostFacts *f, const Config *c, DoctorReport *r) {
        static const char check[] = "idle-latency";
        _cleanup_free_ char *names = NULL;
        if (idle_classes(c, &names) < 0)
                return -ENOMEM;
        const char *driver = f->cpuidle_driver ? f->cpuidle_driver : "none";
        if (!names)
                return doctor_add(r, DOCTOR_OK, check, "no class sets IdleLatency=; cpuidle driver %s", driver);
        if (!f->pm_qos_latency)
                return doctor_add(r, DOCTOR_WARNING, check,
                                  "IdleLatency= of class %s cannot work: the kernel has no "
                                  "/sys/devices/system/cpu/cpu0/power/pm_qos_resume_latency_us; boot a kernel with "
                                  "CONFIG_PM, or remove IdleLatency=",
                                  names);
        return doctor_add(r, DOCTOR_OK, check, "IdleLatency= of class %s: per-CPU PM QoS is there; cpuidle driver %s%s",
                          names, driver,
                          strcmp(driver, "none") == 0 ? " (CPUs idle by halt only: the bound changes little)" : "");
}

int doctor_check_tuning(const HostFacts *f, const Config *c, const Topology *t, DoctorReport *r) {
        if (check_cmdline(f, c, r) < 0 || check_irqbalance(f, c, r) < 0 || check_thp(f, c, r) < 0 ||
            check_cpufreq(f, c, r) < 0 || check_numa_balancing(f, c, t, r) < 0 || check_ksm(f, c, t, r) < 0 ||
            check_idle(f, c, r) < 0)
                return -ENOMEM;
        return 0;
}
