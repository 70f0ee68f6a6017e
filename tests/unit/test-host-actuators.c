/* The IRQ, idle-latency, NUMA-balancing and KSM actuators against fixture sysfs/procfs trees:
 * apply, verify, undo, what the kernel refuses, and the journal that survives a kill -9. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "actuators.h"
#include "eio.h"
#include "fixture.h"
#include "journal.h"
#include "kfile.h"
#include "tuning.h"

typedef struct Tree {
        char *root, *sys, *proc, *journal_path;
        Journal *journal;
        Tuning t;
        Topology *topo;
        Config c;
        hwloc_bitmap_t held;
        int idle[8];
        HostWant want;
        ActuatorHost h;
        ActuatorMemo memo;
} Tree;

static Tree *tree_new(const char *synthetic) {
        Tree *x = calloc(1, sizeof(Tree));
        x->root = fixture_new();
        assert_true(asprintf(&x->sys, "%s/sys", x->root) > 0);
        assert_true(asprintf(&x->proc, "%s/proc", x->root) > 0);
        assert_true(asprintf(&x->journal_path, "%s/journal", x->root) > 0);
        JournalFound found;
        assert_int_equal(journal_open(x->journal_path, "boot-1", &x->journal, &found), 0);
        x->t = (Tuning){ .sysfs = x->sys, .procfs = x->proc, .journal = x->journal };
        assert_int_equal(topology_load(&(TopologySource){ .synthetic = synthetic }, &x->topo), 0);
        x->c.host.irq_affinity = IRQ_AFFINITY_AWAY;
        x->held = hwloc_bitmap_alloc();
        for (unsigned i = 0; i < 8; i++)
                x->idle[i] = IDLE_LATENCY_KEEP;
        x->want = (HostWant){ .config = &x->c, .topology = x->topo, .held = x->held, .idle_latency_us = x->idle };
        x->h = (ActuatorHost){ .tuning = &x->t };
        x->memo = (ActuatorMemo){ .stale = true };
        return x;
}

static void tree_free(Tree *x) {
        actuator_memo_clear(&x->memo);
        hwloc_bitmap_free(x->held);
        topology_free(x->topo);
        journal_free(x->journal);
        fixture_free(x->root);
        free(x->sys);
        free(x->proc);
        free(x->journal_path);
        free(x);
}

static void assert_file(const char *base, const char *rel, const char *want) {
        char *s = NULL;
        assert_int_equal(kfile_read(base, rel, &s), 0);
        s[strcspn(s, "\n")] = '\0';
        assert_string_equal(s, want);
        free(s);
}

/* Runs apply (then clears stale, as the Manager does) and returns its result; the message is
 * printed and, when contains is not NULL, must contain it. */
static int run(const Actuator *a, Tree *x, const char *contains) {
        char *msg = NULL;
        int r = a->apply(&x->h, &x->want, &x->memo, &msg);
        print_message("%s: %d %s\n", a->name, r, msg ? msg : "");
        if (contains) {
                assert_non_null(msg);
                assert_non_null(strstr(msg, contains));
        }
        free(msg);
        x->memo.stale = false;
        return r;
}

static void irq(Tree *x, unsigned n, const char *affinity) {
        char rel[64];
        snprintf(rel, sizeof(rel), "irq/%u/smp_affinity_list", n);
        fixture_write(x->proc, rel, affinity);
        snprintf(rel, sizeof(rel), "irq/%u/effective_affinity_list", n);
        fixture_write(x->proc, rel, "0\n");
}

static void test_keys(void **state) {
        (void) state;
        assert_ptr_equal(actuator_owner("/proc/irq/24/smp_affinity_list"), &actuator_irq);
        assert_ptr_equal(actuator_owner("devices/system/cpu/cpu3/power/pm_qos_resume_latency_us"), &actuator_idle);
        assert_ptr_equal(actuator_owner("/proc/sys/kernel/numa_balancing"), &actuator_numa_balancing);
        assert_ptr_equal(actuator_owner("kernel/mm/ksm/run"), &actuator_ksm);
        assert_ptr_equal(actuator_owner("kernel/mm/ksm/merge_across_nodes"), &actuator_ksm);
        assert_null(actuator_owner("/proc/irq/24/smp_affinity_list/../../x"));
        assert_null(actuator_owner("/proc/irq/default_smp_affinity"));
        assert_null(actuator_owner("/proc/sys/kernel/numa_balancing_scan_delay_ms"));
        assert_null(actuator_owner("kernel/mm/ksm/pages_to_scan"));
}

/* IRQs leave the held CPUs, follow them as they change, new ones are found by the rescan, the
 * effective affinity is checked, and everything comes back when nothing is held. */
static void test_irq_away_and_back(void **state) {
        (void) state;
        Tree *x = tree_new("pack:1 core:4 pu:1");
        irq(x, 24, "0-3\n");
        irq(x, 25, "1\n");
        irq(x, 27, "3\n"); /* only a CPU that will be held */
        fixture_write(x->proc, "irq/default_smp_affinity", "f\n");
        assert_int_equal(run(&actuator_irq, x, NULL), 0); /* nothing held: nothing to do */
        hwloc_bitmap_set_range(x->held, 2, 3);
        assert_int_equal(run(&actuator_irq, x, "2 IRQs moved now; 2 device IRQs kept off CPUs 2-3"), 1);
        assert_file(x->proc, "irq/24/smp_affinity_list", "0-1");
        assert_file(x->proc, "irq/25/smp_affinity_list", "1"); /* never on them */
        assert_file(x->proc, "irq/27/smp_affinity_list", "0-1"); /* to the CPUs not held */
        assert_int_equal(run(&actuator_irq, x, NULL), 0); /* the same again: nothing */
        char *msg = NULL;
        assert_int_equal(actuator_irq.verify(&x->h, &x->want, &msg), 0);
        /* Routed on a held CPU until its next interrupt: no drift, but explain's summary says so. */
        fixture_write(x->proc, "irq/24/effective_affinity_list", "2\n");
        assert_int_equal(actuator_irq.verify(&x->h, &x->want, &msg), 0);
        assert_int_equal(run(&actuator_irq, x, NULL), 0);
        assert_non_null(strstr(x->memo.summary, "(1 still routed there until their next interrupt)"));
        fixture_write(x->proc, "irq/24/effective_affinity_list", "0\n");
        fixture_write(x->proc, "irq/24/smp_affinity_list", "0,2\n"); /* someone put it back */
        assert_int_equal(actuator_irq.verify(&x->h, &x->want, &msg), -ESTALE);
        assert_string_equal(msg, "IRQ 24 is on CPUs 0,2 again");
        free(msg);
        fixture_write(x->proc, "irq/24/smp_affinity_list", "0-1\n");

        irq(x, 30, "0-3\n"); /* a guest driver allocated a vector: found at the next rescan */
        assert_int_equal(run(&actuator_irq, x, "1 IRQ moved now; 3 device IRQs kept off"), 1);
        assert_file(x->proc, "irq/30/smp_affinity_list", "0-1");
        /* irqbalance or an operator moves IRQ 30 within the CPUs not held: theirs, left so. IRQ 24
         * goes back onto a held CPU: off it again, the rest of their choice kept. */
        fixture_write(x->proc, "irq/30/smp_affinity_list", "1\n");
        fixture_write(x->proc, "irq/24/smp_affinity_list", "0,3\n");
        assert_int_equal(run(&actuator_irq, x, "1 IRQ moved now"), 1);
        assert_file(x->proc, "irq/30/smp_affinity_list", "1");
        assert_file(x->proc, "irq/24/smp_affinity_list", "0");
        fixture_write(x->proc, "irq/24/smp_affinity_list", "0-1\n"); /* as kvmtuned left it */
        hwloc_bitmap_zero(x->held);
        hwloc_bitmap_set(x->held, 3); /* one VM stopped: CPU 2 given back to the IRQs kvmtuned moved */
        assert_int_equal(run(&actuator_irq, x, NULL), 1);
        assert_file(x->proc, "irq/24/smp_affinity_list", "0-2");
        assert_file(x->proc, "irq/27/smp_affinity_list", "0-2");
        assert_file(x->proc, "irq/30/smp_affinity_list", "1"); /* still theirs */
        /* An IRQ that is gone takes its journal entry with it: its number is another's later. */
        char path[1024];
        for (const char *const *f = (const char *const[]){ "smp_affinity_list", "effective_affinity_list", "", NULL }; *f;
             f++) {
                snprintf(path, sizeof(path), "%s/irq/30/%s", x->proc, *f);
                assert_int_equal(**f ? unlink(path) : rmdir(path), 0);
        }
        assert_int_equal(run(&actuator_irq, x, NULL), 0);
        assert_null(journal_original(x->journal, "/proc/irq/30/smp_affinity_list"));
        hwloc_bitmap_zero(x->held);
        assert_int_equal(run(&actuator_irq, x, "IRQ affinity restored for 2 IRQs"), 1);
        assert_file(x->proc, "irq/24/smp_affinity_list", "0-3");
        assert_file(x->proc, "irq/27/smp_affinity_list", "3");
        assert_null(journal_original(x->journal, "/proc/irq/24/smp_affinity_list"));
        tree_free(x);
}

/* An IRQ the kernel will not move is listed and never journaled; IRQAffinity=keep leaves all. */
static void test_irq_refused_and_keep(void **state) {
        (void) state;
        Tree *x = tree_new("pack:1 core:4 pu:1");
        irq(x, 24, "0-3\n");
        irq(x, 25, "0-3\n");
        hwloc_bitmap_set(x->held, 0);
        eio_match = "irq/25/";
        assert_int_equal(run(&actuator_irq, x, "1 the kernel does not let move (IRQ 25)"), 1);
        eio_match = NULL;
        assert_file(x->proc, "irq/24/smp_affinity_list", "1-3");
        assert_file(x->proc, "irq/25/smp_affinity_list", "0-3");
        assert_null(journal_original(x->journal, "/proc/irq/25/smp_affinity_list"));
        assert_non_null(journal_original(x->journal, "/proc/irq/24/smp_affinity_list"));

        x->c.host.irq_affinity = IRQ_AFFINITY_KEEP; /* a reload */
        assert_int_equal(run(&actuator_irq, x, NULL), 1);
        assert_file(x->proc, "irq/24/smp_affinity_list", "0-3");
        irq(x, 26, "0\n");
        assert_int_equal(run(&actuator_irq, x, NULL), 0);
        assert_file(x->proc, "irq/26/smp_affinity_list", "0");
        tree_free(x);
}

/* A running irqbalance is named once, with what to tell it. */
static void test_irq_irqbalance(void **state) {
        (void) state;
        Tree *x = tree_new("pack:1 core:4 pu:1");
        irq(x, 24, "0-3\n");
        fixture_write(x->proc, "1234/comm", "irqbalance\n");
        fixture_write(x->proc, "1/comm", "systemd\n");
        hwloc_bitmap_set(x->held, 3);
        assert_int_equal(run(&actuator_irq, x, "irqbalance (pid 1234) runs"), 1);
        assert_int_equal(run(&actuator_irq, x, NULL), 0);
        tree_free(x);
}

static void test_idle_latency(void **state) {
        (void) state;
        Tree *x = tree_new("pack:1 core:4 pu:1");
        for (unsigned cpu = 0; cpu < 4; cpu++) {
                char rel[96];
                snprintf(rel, sizeof(rel), "devices/system/cpu/cpu%u/power/pm_qos_resume_latency_us", cpu);
                fixture_write(x->sys, rel, "0\n");
        }
        assert_int_equal(run(&actuator_idle, x, NULL), 0);
        x->idle[1] = IDLE_LATENCY_POLL;
        x->idle[2] = 20;
        assert_int_equal(run(&actuator_idle, x, "bounded on 2 more CPUs"), 1);
        assert_file(x->sys, "devices/system/cpu/cpu1/power/pm_qos_resume_latency_us", "n/a");
        assert_file(x->sys, "devices/system/cpu/cpu2/power/pm_qos_resume_latency_us", "20");
        assert_file(x->sys, "devices/system/cpu/cpu0/power/pm_qos_resume_latency_us", "0");
        assert_int_equal(run(&actuator_idle, x, NULL), 0);
        char *msg = NULL;
        assert_int_equal(actuator_idle.verify(&x->h, &x->want, &msg), 0);
        fixture_write(x->sys, "devices/system/cpu/cpu2/power/pm_qos_resume_latency_us", "0\n");
        assert_int_equal(actuator_idle.verify(&x->h, &x->want, &msg), -ESTALE);
        assert_string_equal(msg, "CPU 2: resume latency is 0, not 20");
        free(msg);
        x->idle[2] = IDLE_LATENCY_KEEP; /* that VM stopped */
        assert_int_equal(run(&actuator_idle, x, "given back on 1"), 1);
        assert_file(x->sys, "devices/system/cpu/cpu2/power/pm_qos_resume_latency_us", "0");
        assert_file(x->sys, "devices/system/cpu/cpu1/power/pm_qos_resume_latency_us", "n/a");
        msg = NULL;
        assert_int_equal(actuator_idle.undo(&x->h, NULL, &msg), 1);
        assert_file(x->sys, "devices/system/cpu/cpu1/power/pm_qos_resume_latency_us", "0");
        x->idle[3] = 5; /* no such file for CPU 3: CPU 1 is bounded all the same, said once */
        char path[1024];
        snprintf(path, sizeof(path), "%s/devices/system/cpu/cpu3/power/pm_qos_resume_latency_us", x->sys);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(run(&actuator_idle, x, "1 CPU without a PM QoS file (CPU 3) left alone"), 1);
        assert_file(x->sys, "devices/system/cpu/cpu1/power/pm_qos_resume_latency_us", "n/a");
        assert_int_equal(run(&actuator_idle, x, NULL), 0);
        x->idle[1] = IDLE_LATENCY_KEEP; /* only CPU 3 asks, and it cannot: the host lacks it */
        actuator_memo_clear(&x->memo);
        assert_int_equal(run(&actuator_idle, x, "given back on 1"), 1); /* CPU 1 */
        assert_file(x->sys, "devices/system/cpu/cpu1/power/pm_qos_resume_latency_us", "0");
        assert_int_equal(run(&actuator_idle, x, "IdleLatency= left alone"), -EOPNOTSUPP);
        tree_free(x);
}

static void test_numa_balancing(void **state) {
        (void) state;
        Tree *x = tree_new("numa:2 core:2 pu:1");
        fixture_write(x->proc, "sys/kernel/numa_balancing", "1\n");
        assert_int_equal(run(&actuator_numa_balancing, x, NULL), 0); /* no strict VM */
        x->want.strict_running = true;
        assert_int_equal(run(&actuator_numa_balancing, x, "off while strictly bound VMs run (was 1)"), 1);
        assert_file(x->proc, "sys/kernel/numa_balancing", "0");
        assert_int_equal(run(&actuator_numa_balancing, x, NULL), 0);
        char *msg = NULL;
        fixture_write(x->proc, "sys/kernel/numa_balancing", "2\n"); /* an operator */
        assert_int_equal(actuator_numa_balancing.verify(&x->h, &x->want, &msg), -ESTALE);
        free(msg);
        fixture_write(x->proc, "sys/kernel/numa_balancing", "0\n");
        x->want.strict_running = false; /* the last one stopped */
        assert_int_equal(run(&actuator_numa_balancing, x, "back to 1"), 1);
        assert_file(x->proc, "sys/kernel/numa_balancing", "1");
        x->c.host.numa_balancing = NUMA_BALANCING_KEEP;
        x->want.strict_running = true;
        assert_int_equal(run(&actuator_numa_balancing, x, NULL), 0);
        assert_file(x->proc, "sys/kernel/numa_balancing", "1");
        x->c.host.numa_balancing = NUMA_BALANCING_OFF_WHILE_STRICT;
        char path[1024];
        snprintf(path, sizeof(path), "%s/sys/kernel/numa_balancing", x->proc);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(run(&actuator_numa_balancing, x, "no automatic NUMA balancing"), -EOPNOTSUPP);
        tree_free(x);
}

static void test_ksm(void **state) {
        (void) state;
        Tree *x = tree_new("numa:2 core:2 pu:1");
        fixture_write(x->sys, "kernel/mm/ksm/run", "0\n");
        fixture_write(x->sys, "kernel/mm/ksm/merge_across_nodes", "1\n");
        fixture_write(x->sys, "kernel/mm/ksm/pages_shared", "0\n");
        x->c.host.ksm = KSM_ON;
        assert_int_equal(run(&actuator_ksm, x, "KSM run 1 (was 0)"), 1);
        x->want.strict_running = true;
        assert_int_equal(run(&actuator_ksm, x, "merge_across_nodes 0"), 1);
        assert_file(x->sys, "kernel/mm/ksm/merge_across_nodes", "0");
        x->want.strict_running = false;
        fixture_write(x->sys, "kernel/mm/ksm/pages_shared", "7\n");
        assert_int_equal(run(&actuator_ksm, x, "stays 0 until nothing is merged"), 0);
        assert_int_equal(run(&actuator_ksm, x, NULL), 0); /* said once */
        assert_file(x->sys, "kernel/mm/ksm/merge_across_nodes", "0");
        fixture_write(x->sys, "kernel/mm/ksm/pages_shared", "0\n");
        assert_int_equal(run(&actuator_ksm, x, "back to its original"), 1);
        assert_file(x->sys, "kernel/mm/ksm/merge_across_nodes", "1");
        /* Pages merged while strict VMs start: never unmerged, said once. */
        fixture_write(x->sys, "kernel/mm/ksm/pages_shared", "3\n");
        x->want.strict_running = true;
        assert_int_equal(run(&actuator_ksm, x, "merge_across_nodes stays 1"), 0);
        assert_file(x->sys, "kernel/mm/ksm/merge_across_nodes", "1");
        assert_file(x->sys, "kernel/mm/ksm/run", "1");
        char *msg = NULL;
        assert_int_equal(actuator_ksm.undo(&x->h, NULL, &msg), 1);
        assert_file(x->sys, "kernel/mm/ksm/run", "0");
        x->c.host.ksm = KSM_OFF;
        x->memo.stale = true;
        fixture_write(x->sys, "kernel/mm/ksm/run", "1\n");
        assert_int_equal(run(&actuator_ksm, x, "KSM run 0 (was 1)"), 1);
        tree_free(x);
}

/* What a killed kvmtuned left: the next run's undo of every actuator puts the procfs and sysfs
 * originals back from the journal file alone. */
static void test_journal_after_kill(void **state) {
        (void) state;
        Tree *x = tree_new("numa:2 core:2 pu:1");
        irq(x, 24, "0-3\n");
        fixture_write(x->proc, "sys/kernel/numa_balancing", "1\n");
        fixture_write(x->sys, "devices/system/cpu/cpu3/power/pm_qos_resume_latency_us", "0\n");
        fixture_write(x->sys, "kernel/mm/ksm/run", "0\n");
        fixture_write(x->sys, "kernel/mm/ksm/merge_across_nodes", "1\n");
        fixture_write(x->sys, "kernel/mm/ksm/pages_shared", "0\n");
        hwloc_bitmap_set(x->held, 3);
        x->idle[3] = IDLE_LATENCY_POLL;
        x->want.strict_running = true;
        x->c.host.ksm = KSM_ON;
        assert_int_equal(run(&actuator_irq, x, NULL), 1);
        assert_int_equal(run(&actuator_idle, x, NULL), 1);
        assert_int_equal(run(&actuator_numa_balancing, x, NULL), 1);
        x->memo.stale = true; /* KSM= applies at a start */
        assert_int_equal(run(&actuator_ksm, x, NULL), 1);
        assert_file(x->sys, "kernel/mm/ksm/run", "1");
        assert_file(x->sys, "kernel/mm/ksm/merge_across_nodes", "0");
        /* kill -9: the journal file is all that is left. */
        Journal *next = NULL;
        JournalFound found;
        assert_int_equal(journal_open(x->journal_path, "boot-1", &next, &found), 0);
        Tuning t = { .sysfs = x->sys, .procfs = x->proc, .journal = next };
        ActuatorHost h = { .tuning = &t };
        char *msg = NULL;
        assert_int_equal(actuator_undo_all(&h, NULL, NULL, NULL, &msg), 5);
        free(msg);
        assert_file(x->sys, "kernel/mm/ksm/run", "0");
        assert_file(x->sys, "kernel/mm/ksm/merge_across_nodes", "1");
        assert_file(x->proc, "irq/24/smp_affinity_list", "0-3");
        assert_file(x->proc, "sys/kernel/numa_balancing", "1");
        assert_file(x->sys, "devices/system/cpu/cpu3/power/pm_qos_resume_latency_us", "0");
        journal_free(next);
        tree_free(x);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_keys),
                cmocka_unit_test(test_irq_away_and_back),
                cmocka_unit_test(test_irq_refused_and_keep),
                cmocka_unit_test(test_irq_irqbalance),
                cmocka_unit_test(test_idle_latency),
                cmocka_unit_test(test_numa_balancing),
                cmocka_unit_test(test_ksm),
                cmocka_unit_test(test_journal_after_kill),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
