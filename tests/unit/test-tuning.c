/* Host tuning actuators and the journal against fixture sysfs/procfs trees: apply, verify,
 * undo, reference counts, missing and unwritable files, crash recovery by boot id. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "isolation.h"
#include "journal.h"
#include "kfile.h"
#include "actuators.h"
#include "eio.h"
#include "tuning.h"

typedef struct Tree {
        char *root, *sys, *proc, *journal_path;
        Journal *journal;
        Tuning t;
} Tree;

static Tree *tree_new(void) {
        Tree *x = calloc(1, sizeof(Tree));
        x->root = fixture_new();
        assert_true(asprintf(&x->sys, "%s/sys", x->root) > 0);
        assert_true(asprintf(&x->proc, "%s/proc", x->root) > 0);
        assert_true(asprintf(&x->journal_path, "%s/journal", x->root) > 0);
        fixture_write(x->sys, "kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n");
        fixture_write(x->sys, "devices/system/cpu/cpu1/cpufreq/scaling_governor", "schedutil\n");
        fixture_write(x->sys, "devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
        fixture_write(x->sys, "devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages", "0\n");
        fixture_write(x->sys, "devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "10\n");
        fixture_write(x->sys, "devices/system/node/node1/hugepages/hugepages-2048kB/free_hugepages", "10\n");
        fixture_write(x->proc, "sys/vm/compact_memory", "");
        fixture_write(x->proc, "mounts",
                      "proc /proc proc rw 0 0\nhugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n");
        JournalFound found;
        assert_int_equal(journal_open(x->journal_path, "boot-1", &x->journal, &found), 0);
        assert_int_equal(found, JOURNAL_EMPTY);
        x->t = (Tuning){ .sysfs = x->sys, .procfs = x->proc, .journal = x->journal };
        return x;
}

static void tree_free(Tree *x) {
        journal_free(x->journal);
        fixture_free(x->root);
        free(x->sys);
        free(x->proc);
        free(x->journal_path);
        free(x);
}

static char *contents(const char *base, const char *rel) {
        char *s = NULL;
        assert_int_equal(kfile_read(base, rel, &s), 0);
        s[strcspn(s, "\n")] = '\0';
        return s;
}

static void assert_file(const char *base, const char *rel, const char *want) {
        char *s = contents(base, rel);
        assert_string_equal(s, want);
        free(s);
}

static void test_choice_parsing(void **state) {
        (void) state;
        char buf[32];
        assert_int_equal(kfile_parse_choice("always [madvise] never\n", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "madvise");
        assert_int_equal(kfile_parse_choice("  performance \n", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "performance");
        assert_int_equal(kfile_parse_choice("always [madvise never", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(kfile_parse_choice("\n", buf, sizeof(buf)), -EINVAL);
}

static void test_thp_apply_and_undo(void **state) {
        (void) state;
        Tree *x = tree_new();
        char *err = NULL;
        assert_int_equal(tuning_thp(&x->t, THP_NEVER, &err), 0);
        assert_file(x->sys, "kernel/mm/transparent_hugepage/enabled", "never");
        assert_string_equal(journal_original(x->journal, "kernel/mm/transparent_hugepage/enabled"), "madvise");
        /* The original is on disk before the value changes: a crash here is recoverable. */
        char *j = NULL;
        assert_int_equal(kfile_read(x->root, "journal", &j), 0);
        assert_non_null(strstr(j, "\"madvise\""));
        free(j);
        /* Applying again keeps the first original. */
        assert_int_equal(tuning_thp(&x->t, THP_ALWAYS, &err), 0);
        assert_string_equal(journal_original(x->journal, "kernel/mm/transparent_hugepage/enabled"), "madvise");
        /* keep puts it back and forgets it. */
        assert_int_equal(tuning_thp(&x->t, THP_KEEP, &err), 0);
        assert_file(x->sys, "kernel/mm/transparent_hugepage/enabled", "madvise");
        assert_null(journal_original(x->journal, "kernel/mm/transparent_hugepage/enabled"));
        tree_free(x);
}

static void test_governor(void **state) {
        (void) state;
        Tree *x = tree_new();
        char *err = NULL;
        assert_int_equal(tuning_governor(&x->t, 1, "performance", &err), 0);
        assert_file(x->sys, "devices/system/cpu/cpu1/cpufreq/scaling_governor", "performance");
        assert_int_equal(tuning_governor(&x->t, 1, NULL, &err), 0);
        assert_file(x->sys, "devices/system/cpu/cpu1/cpufreq/scaling_governor", "schedutil");
        /* A CPU without cpufreq (like this build machine) says so. */
        assert_int_equal(tuning_governor(&x->t, 0, "performance", &err), -ENOENT);
        assert_non_null(strstr(err, "cannot read"));
        free(err);
        tree_free(x);
}

static void test_hugepage_refcounts(void **state) {
        (void) state;
        Tree *x = tree_new();
        const char *nr0 = "devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages";
        const char *nr1 = "devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages";
        char *err = NULL;
        /* Two VMs on node 0 add up; each gives back exactly what it added. */
        assert_int_equal(tuning_hugepages_reserve(&x->t, "vm-a", 0, 2048, 4, 0, &err), 0);
        assert_file(x->sys, nr0, "4");
        assert_int_equal(tuning_hugepages_reserve(&x->t, "vm-b", 0, 2048, 2, 0, &err), 0);
        assert_file(x->sys, nr0, "6");
        assert_int_equal(journal_added_pages(x->journal, 0, 2048), 6);
        assert_int_equal(tuning_hugepages_release(&x->t, "vm-a", &err), 0);
        assert_file(x->sys, nr0, "2");
        assert_int_equal(tuning_hugepages_release(&x->t, "vm-b", &err), 0);
        assert_file(x->sys, nr0, "0");
        assert_int_equal(journal_added_pages(x->journal, 0, 2048), 0);
        assert_null(journal_original(x->journal, nr0));

        /* Pages that existed before kvmtuned are used first and never released. */
        assert_int_equal(tuning_hugepages_reserve(&x->t, "vm-c", 1, 2048, 4, 0, &err), 0);
        assert_file(x->sys, nr1, "10");
        /* vm-c has not started: its 4 pages still read as free, but they are promised. */
        assert_int_equal(tuning_hugepages_reserve(&x->t, "vm-d", 1, 2048, 16, 4, &err), 0);
        assert_file(x->sys, nr1, "20"); /* 10 free, 4 of them promised, 10 added */
        assert_int_equal(tuning_hugepages_release(&x->t, "vm-d", &err), 0);
        assert_int_equal(tuning_hugepages_release(&x->t, "vm-c", &err), 0);
        assert_file(x->sys, nr1, "10");

        /* Hugepages=keep: what a domain added stays for good. */
        assert_int_equal(tuning_hugepages_reserve(&x->t, "vm-k", 0, 2048, 5, 0, &err), 0);
        tuning_hugepages_keep(&x->t, "vm-k");
        assert_int_equal(tuning_hugepages_release(&x->t, "vm-k", &err), 0);
        assert_file(x->sys, nr0, "5");
        assert_null(journal_original(x->journal, nr0));

        /* No pool of that size on the node. */
        assert_int_equal(tuning_hugepages_reserve(&x->t, "vm-e", 0, 1048576, 1, 0, &err), -ENOENT);
        assert_non_null(strstr(err, "node 0 has no 1048576 kB hugepage pool"));
        free(err);
        tree_free(x);
}

/* A pool file that cannot be read or written: a clear error, nothing journaled. */
static void test_hugepage_unwritable(void **state) {
        (void) state;
        Tree *x = tree_new();
        const char *dir = "devices/system/node/node0/hugepages/hugepages-1048576kB";
        char rel[256], *path = NULL;
        snprintf(rel, sizeof(rel), "%s/free_hugepages", dir);
        fixture_write(x->sys, rel, "0\n");
        assert_true(asprintf(&path, "%s/%s/nr_hugepages", x->sys, dir) > 0);
        assert_int_equal(mkdir(path, 0755), 0); /* a directory where the file should be */
        free(path);
        char *err = NULL;
        assert_int_not_equal(tuning_hugepages_reserve(&x->t, "vm-g", 0, 1048576, 8, 0, &err), 0);
        print_message("unusable pool: %s\n", err);
        assert_non_null(strstr(err, "node 0 has no 1048576 kB hugepage pool"));
        free(err);
        assert_int_equal(journal_added_pages(x->journal, 0, 1048576), 0);
        tree_free(x);
}

static void test_missing_and_unwritable(void **state) {
        (void) state;
        Tree *x = tree_new();
        char *err = NULL;
        assert_int_equal(tuning_set(&x->t, "kernel/mm/nonexistent", "1", &err), -ENOENT);
        assert_non_null(strstr(err, "kernel/mm/nonexistent: cannot read"));
        free(err);
        /* Nothing recorded for a setting that was not changed. */
        assert_null(journal_original(x->journal, "kernel/mm/nonexistent"));
        /* Same value: not written, not journaled. */
        assert_int_equal(tuning_set(&x->t, "kernel/mm/transparent_hugepage/enabled", "madvise", &err), 0);
        assert_null(journal_original(x->journal, "kernel/mm/transparent_hugepage/enabled"));
        tree_free(x);
}

/* A crash leaves the journal behind: the next start of the same boot restores from it; after a
 * reboot the entries describe a kernel that is gone. */
static void test_journal_recovery(void **state) {
        (void) state;
        Tree *x = tree_new();
        char *err = NULL;
        assert_int_equal(tuning_thp(&x->t, THP_NEVER, &err), 0);
        assert_int_equal(tuning_hugepages_reserve(&x->t, "vm-a", 0, 2048, 3, 0, &err), 0);
        journal_free(x->journal); /* the "crash": nothing restored */

        JournalFound found;
        assert_int_equal(journal_open(x->journal_path, "boot-1", &x->journal, &found), 0);
        assert_int_equal(found, JOURNAL_RECOVERED);
        x->t.journal = x->journal;
        assert_int_equal(journal_added_pages(x->journal, 0, 2048), 3);
        int n = actuator_undo_all(&(ActuatorHost){ .tuning = &x->t }, NULL, NULL, NULL, &err);
        assert_int_equal(n, 1); /* THP; the pool keeps its reservation until vm-a is released */
        assert_file(x->sys, "kernel/mm/transparent_hugepage/enabled", "madvise");
        assert_int_equal(tuning_hugepages_release(&x->t, "vm-a", &err), 0);
        assert_file(x->sys, "devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "0");
        journal_free(x->journal);

        assert_int_equal(journal_open(x->journal_path, "boot-1", &x->journal, &found), 0);
        assert_int_equal(found, JOURNAL_EMPTY); /* everything was put back */
        x->t.journal = x->journal;
        assert_int_equal(tuning_thp(&x->t, THP_NEVER, &err), 0);
        journal_free(x->journal);
        assert_int_equal(journal_open(x->journal_path, "boot-2", &x->journal, &found), 0);
        assert_int_equal(found, JOURNAL_EMPTY); /* another boot: dropped */
        assert_null(journal_original(x->journal, "kernel/mm/transparent_hugepage/enabled"));
        x->t.journal = x->journal;
        tree_free(x);
}

/* Issue 11: a tampered journal cannot make kvmtuned write a path no actuator of its owns: a key
 * outside the actuators' files (one climbing out of /sys, or another file below it) is dropped
 * on restore, never written; the actuators' own keys are still restored. */
static void test_journal_foreign_keys(void **state) {
        (void) state;
        Tree *x = tree_new();
        char *err = NULL;
        fixture_write(x->root, "outside", "untouched\n");
        fixture_write(x->sys, "kernel/other", "untouched\n");
        assert_int_equal(tuning_thp(&x->t, THP_NEVER, &err), 0);
        assert_int_equal(journal_record(x->journal, "../outside", "owned"), 0);
        assert_int_equal(journal_record(x->journal, "kernel/other", "owned"), 0);
        assert_int_equal(journal_record(x->journal, "devices/system/cpu/cpu0/cpufreq/../../../../kernel/other", "owned"),
                         0);
        int n = actuator_undo_all(&(ActuatorHost){ .tuning = &x->t }, NULL, NULL, NULL, &err);
        print_message("restore with 3 foreign keys: %d restored%s%s\n", n, err ? ", " : "", err ? err : "");
        free(err);
        assert_file(x->root, "outside", "untouched");
        assert_file(x->sys, "kernel/other", "untouched");
        assert_file(x->sys, "kernel/mm/transparent_hugepage/enabled", "madvise");
        assert_null(journal_original(x->journal, "../outside"));
        assert_null(journal_original(x->journal, "kernel/other"));
        tree_free(x);
}

/* A journal that is not JSON is set aside, never silently dropped; malformed entries of a
 * readable one are dropped and the good ones kept. */
static void test_journal_unreadable(void **state) {
        (void) state;
        Tree *x = tree_new();
        journal_free(x->journal);
        fixture_write("/", x->journal_path, "{\"boot_id\": \"boot-1\", \"settings\": ");
        JournalFound found;
        assert_int_equal(journal_open(x->journal_path, "boot-1", &x->journal, &found), 0);
        assert_int_equal(found, JOURNAL_SET_ASIDE);
        char *aside = NULL;
        assert_true(asprintf(&aside, "%s.unreadable", x->journal_path) > 0);
        assert_int_equal(access(aside, F_OK), 0);
        free(aside);
        journal_free(x->journal);
        /* A second one does not overwrite the first. */
        fixture_write("/", x->journal_path, "garbage");
        assert_int_equal(journal_open(x->journal_path, "boot-1", &x->journal, &found), 0);
        assert_int_equal(found, JOURNAL_SET_ASIDE);
        assert_true(asprintf(&aside, "%s.unreadable.1", x->journal_path) > 0);
        assert_int_equal(access(aside, F_OK), 0);
        free(aside);
        assert_int_equal(journal_n_reservations(x->journal), 0);
        journal_free(x->journal);

        fixture_write("/", x->journal_path,
                      "{\"boot_id\": \"boot-1\", \"settings\": {\"a\": \"1\", \"b\": null, \"c\": 3},"
                      " \"reservations\": [{\"owner\": null, \"node\": 0, \"page_kib\": 2048, \"added\": 1},"
                      " {\"owner\": \"vm\", \"node\": -1, \"page_kib\": 2048, \"added\": 1},"
                      " {\"owner\": \"vm\", \"node\": 0, \"page_kib\": 2048, \"added\": -5},"
                      " {\"owner\": \"vm\", \"node\": 0, \"page_kib\": 2048, \"added\": 2}]}");
        assert_int_equal(journal_open(x->journal_path, "boot-1", &x->journal, &found), 0);
        assert_int_equal(found, JOURNAL_RECOVERED);
        assert_string_equal(journal_original(x->journal, "a"), "1");
        assert_null(journal_original(x->journal, "b"));
        assert_null(journal_original(x->journal, "c"));
        assert_int_equal(journal_n_reservations(x->journal), 1);
        assert_int_equal(journal_added_pages(x->journal, 0, 2048), 2);
        x->t.journal = x->journal;
        tree_free(x);
}

static void test_hugetlbfs_mount(void **state) {
        (void) state;
        Tree *x = tree_new();
        char dir[256];
        assert_true(tuning_hugetlbfs_mounted(&x->t, 2048, dir, sizeof(dir)));
        assert_string_equal(dir, "/dev/hugepages");
        assert_false(tuning_hugetlbfs_mounted(&x->t, 1048576, dir, sizeof(dir)));
        fixture_write(x->proc, "mounts", "proc /proc proc rw 0 0\n");
        assert_false(tuning_hugetlbfs_mounted(&x->t, 0, dir, sizeof(dir)));
        /* PID 1's table, the host's, over kvmtuned's own: a unit's private /dev misses later mounts */
        fixture_write(x->proc, "1/mounts", "hugetlbfs /dev/hugepages1G hugetlbfs rw,pagesize=1024M 0 0\n");
        assert_true(tuning_hugetlbfs_mounted(&x->t, 1048576, dir, sizeof(dir)));
        assert_string_equal(dir, "/dev/hugepages1G");
        tree_free(x);
}

/* Host isolation's cgroup side on fixture trees: which hierarchy, what is written, which
 * processes move (kernel threads never). rmdir of a real cgroup cannot be imitated by a
 * directory with files, so undo is covered by the system test. */
static void write_procs(const char *root) {
        char proc[512];
        snprintf(proc, sizeof(proc), "%s/proc", root);
        fixture_write(proc, "1/stat", "1 (init) S 0 1 1 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 1 0 5 1000 100\n");
        fixture_write(proc, "2/stat", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n");
        fixture_write(proc, "3/stat", "3 (my (odd) name) R 1 3 3 0 -1 4194304 1 0 0 0 1 1 0 0 20 0 1 0 9 1000 100\n");
}

static void test_isolation_cgroup_v2(void **state) {
        (void) state;
        char *root = fixture_new(), sys[512], proc[512];
        snprintf(sys, sizeof(sys), "%s/sys", root);
        snprintf(proc, sizeof(proc), "%s/proc", root);
        fixture_write(sys, "fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
        fixture_write(sys, "fs/cgroup/cgroup.subtree_control", "cpu memory\n");
        fixture_write(sys, "fs/cgroup/cgroup.procs", "1\n2\n3\n");
        write_procs(root);
        Isolation iso = { .sysfs = sys, .procfs = proc };
        assert_true(isolation_available(&iso));
        hwloc_bitmap_t cpus = hwloc_bitmap_alloc();
        hwloc_bitmap_set_range(cpus, 0, 1);
        char *err = NULL;
        assert_int_equal(isolation_apply(&iso, cpus, &err), 2); /* init and the odd name, not kthreadd */
        assert_file(sys, "fs/cgroup/cgroup.subtree_control", "+cpuset");
        assert_file(sys, "fs/cgroup/kvmtuned.housekeeping/cpuset.cpus", "0-1");
        assert_file(sys, "fs/cgroup/kvmtuned.housekeeping/cgroup.procs", "3"); /* the last one written */
        hwloc_bitmap_free(cpus);
        fixture_free(root);
}

static void test_isolation_cgroup_v1(void **state) {
        (void) state;
        char *root = fixture_new(), sys[512], proc[512];
        snprintf(sys, sizeof(sys), "%s/sys", root);
        snprintf(proc, sizeof(proc), "%s/proc", root);
        Isolation iso = { .sysfs = sys, .procfs = proc };
        assert_false(isolation_available(&iso));
        hwloc_bitmap_t cpus = hwloc_bitmap_alloc();
        hwloc_bitmap_set(cpus, 0);
        char *err = NULL;
        assert_int_equal(isolation_apply(&iso, cpus, &err), -ENOENT);
        assert_non_null(strstr(err, "no cpuset hierarchy"));
        free(err);

        /* A hybrid host: v2 mounted too, but without cpuset; v1 is the one to use. */
        fixture_write(sys, "fs/cgroup/unified/cgroup.controllers", "cpu io\n");
        fixture_write(sys, "fs/cgroup/cpuset/cpuset.cpus", "0-3\n");
        fixture_write(sys, "fs/cgroup/cpuset/cpuset.mems", "0\n");
        fixture_write(sys, "fs/cgroup/cpuset/cgroup.procs", "2\n1\n");
        write_procs(root);
        assert_true(isolation_available(&iso));
        assert_int_equal(isolation_apply(&iso, cpus, &err), 1);
        assert_file(sys, "fs/cgroup/cpuset/kvmtuned.housekeeping/cpuset.mems", "0");
        assert_file(sys, "fs/cgroup/cpuset/kvmtuned.housekeeping/cpuset.cpus", "0");
        assert_file(sys, "fs/cgroup/cpuset/kvmtuned.housekeeping/cgroup.procs", "1");
        /* An empty set would strand the host. */
        hwloc_bitmap_zero(cpus);
        assert_int_equal(isolation_apply(&iso, cpus, &err), -EINVAL);
        free(err);
        hwloc_bitmap_free(cpus);
        fixture_free(root);
}

/* The actuator interface: every actuator has a name, its journal keys and an undo; each journal
 * key belongs to exactly the actuator that writes it (a foreign one to none); apply changes only
 * what differs and says so; verify sees a value someone else wrote since. */
static void test_actuator_interface(void **state) {
        (void) state;
        for (unsigned i = 0; i < ACTUATOR_COUNT; i++) {
                const Actuator *a = actuator_get((ActuatorId) i);
                assert_non_null(a);
                assert_true(a->name && a->journal_namespace && a->owns_key && a->undo);
        }
        assert_null(actuator_get(ACTUATOR_COUNT));
        assert_ptr_equal(actuator_owner("kernel/mm/transparent_hugepage/enabled"), &actuator_thp);
        assert_ptr_equal(actuator_owner("devices/system/cpu/cpu12/cpufreq/scaling_governor"), &actuator_governor);
        assert_ptr_equal(actuator_owner("devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"),
                         &actuator_hugepages);
        assert_ptr_equal(actuator_owner("systemd:user.slice:AllowedCPUs"), &actuator_isolation);
        assert_null(actuator_owner("systemd:other.slice:AllowedCPUs"));
        assert_null(actuator_owner("devices/system/cpu/cpu1/cpufreq/scaling_governor/../../x"));
        assert_null(actuator_owner("kernel/mm/transparent_hugepage/enabled2"));

        Tree *x = tree_new();
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .synthetic = "pack:1 core:2 pu:1" }, &t), 0);
        Config c = { 0 };
        c.host.thp = THP_NEVER;
        c.host.governor_dedicated = "performance";
        hwloc_bitmap_t held = hwloc_bitmap_alloc();
        hwloc_bitmap_set(held, 1);
        HostWant want = { .config = &c, .topology = t, .held = held };
        ActuatorHost h = { .tuning = &x->t };
        ActuatorMemo memo = { .stale = true }; /* a start: the configuration is new */
        char *msg = NULL;
        assert_int_equal(actuator_thp.apply(&h, &want, &memo, &msg), 1);
        print_message("thp: %s\n", msg);
        free(msg);
        msg = NULL;
        assert_int_equal(actuator_thp.apply(&h, &want, &memo, &msg), 0); /* already so */
        assert_null(msg);
        memo.stale = false; /* as the Manager does after each run */
        assert_int_equal(actuator_thp.verify(&h, &want, &msg), 0);
        fixture_write(x->sys, "kernel/mm/transparent_hugepage/enabled", "[always] madvise never\n"); /* someone else */
        assert_int_equal(actuator_thp.verify(&h, &want, &msg), -ESTALE);
        print_message("thp after another write: %s\n", msg);
        free(msg);
        msg = NULL;
        assert_int_equal(actuator_governor.apply(&h, &want, &memo, &msg), 1); /* CPU 1; CPU 0 has no cpufreq */
        free(msg);
        msg = NULL;
        assert_file(x->sys, "devices/system/cpu/cpu1/cpufreq/scaling_governor", "performance");
        assert_int_equal(actuator_governor.verify(&h, &want, &msg), 0);
        assert_int_equal(actuator_undo_all(&h, NULL, NULL, NULL, &msg), 2);
        free(msg);
        assert_file(x->sys, "devices/system/cpu/cpu1/cpufreq/scaling_governor", "schedutil");
        assert_file(x->sys, "kernel/mm/transparent_hugepage/enabled", "madvise");
        actuator_memo_clear(&memo);
        hwloc_bitmap_free(held);
        topology_free(t);
        tree_free(x);
}

/* Review of issue 11's changes: THP is applied at start and reload only (an operator's change
 * in between stands until then), a host without it is "unavailable", not a failure at every
 * event; a reload that no longer wants isolation ends it (the memo must not forget it was on). */
static void test_actuators_across_a_reload(void **state) {
        (void) state;
        Tree *x = tree_new();
        write_procs(x->root);
        fixture_write(x->sys, "fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
        fixture_write(x->sys, "fs/cgroup/cgroup.subtree_control", "cpu memory\n");
        fixture_write(x->sys, "fs/cgroup/cgroup.procs", "1\n2\n3\n");
        Isolation iso = { .sysfs = x->sys, .procfs = x->proc };
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .synthetic = "pack:1 core:4 pu:1" }, &t), 0);
        Config c = { 0 };
        c.host.thp = THP_NEVER;
        c.host.isolate_host = ISOLATE_WHEN_DEDICATED;
        hwloc_bitmap_t held = hwloc_bitmap_alloc();
        hwloc_bitmap_set(held, 3);
        HostWant want = { .config = &c, .topology = t, .held = held };
        ActuatorHost h = { .tuning = &x->t, .isolation = &iso };
        ActuatorMemo thp = { .stale = true }, isol = { .stale = true };
        char *msg = NULL;
        assert_int_equal(actuator_thp.apply(&h, &want, &thp, &msg), 1);
        free(msg);
        msg = NULL;
        thp.stale = false;
        fixture_write(x->sys, "kernel/mm/transparent_hugepage/enabled", "[always] madvise never\n"); /* an operator */
        assert_int_equal(actuator_thp.apply(&h, &want, &thp, &msg), 0); /* an event: left as the operator set it */
        assert_file(x->sys, "kernel/mm/transparent_hugepage/enabled", "[always] madvise never");

        assert_true(actuator_isolation.apply(&h, &want, &isol, &msg) > 0);
        print_message("isolation: %s\n", msg);
        free(msg);
        msg = NULL;
        assert_true(iso.active);
        c.host.isolate_host = ISOLATE_NO; /* the reload */
        actuator_memo_renew(&isol);
        int r = actuator_isolation.apply(&h, &want, &isol, &msg);
        print_message("after a reload with IsolateHost=no: %d %s\n", r, msg ? msg : "");
        /* It ends isolation: the processes go back; the group's directory is a plain one in a
         * fixture tree (cgroupfs removes its files itself), so only its rmdir fails here. */
        assert_true(r > 0 || r == -ENOTEMPTY);
        assert_file(x->sys, "fs/cgroup/cgroup.procs", "3"); /* moved back, the last one written */
        free(msg);
        msg = NULL;

        fixture_write(x->sys, "kernel/mm/transparent_hugepage/enabled", "");
        char path[1024];
        snprintf(path, sizeof(path), "%s/kernel/mm/transparent_hugepage/enabled", x->sys);
        assert_int_equal(unlink(path), 0);
        actuator_memo_renew(&thp);
        assert_int_equal(actuator_thp.apply(&h, &want, &thp, &msg), -EOPNOTSUPP);
        print_message("without THP: %s\n", msg);
        free(msg);
        hwloc_bitmap_free(held);
        topology_free(t);
        isolation_done(&iso);
        actuator_memo_clear(&thp);
        actuator_memo_clear(&isol);
        tree_free(x);
}

/* sysfs writes the kernel refuses with EIO: tests/lib/eio.h. */

/* Issue 12: a write that fails with EIO changes nothing, says which file and why, and leaves a
 * journal whose restore is harmless; the governor actuator goes on with the other CPUs. */
static void test_sysfs_eio(void **state) {
        (void) state;
        Tree *x = tree_new();
        fixture_write(x->sys, "devices/system/cpu/cpu0/cpufreq/scaling_governor", "schedutil\n");
        char *err = NULL;
        eio_match = "transparent_hugepage";
        assert_int_equal(tuning_thp(&x->t, THP_NEVER, &err), -EIO);
        print_message("%s\n", err);
        assert_string_equal(err, "kernel/mm/transparent_hugepage/enabled: cannot write never: Input/output error");
        free(err);
        err = NULL;
        assert_file(x->sys, "kernel/mm/transparent_hugepage/enabled", "always [madvise] never"); /* untouched */
        eio_match = NULL;
        /* The refused write changed nothing, so nothing is left to restore (a restore the kernel
         * might refuse as well, at every start). */
        assert_null(journal_original(x->journal, "kernel/mm/transparent_hugepage/enabled"));
        assert_int_equal(tuning_restore(&x->t, "kernel/mm/transparent_hugepage/enabled", &err), 0);
        assert_file(x->sys, "kernel/mm/transparent_hugepage/enabled", "always [madvise] never");

        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .synthetic = "pack:1 core:2 pu:1" }, &t), 0);
        Config c = { 0 };
        c.host.governor_dedicated = "performance";
        hwloc_bitmap_t held = hwloc_bitmap_alloc();
        hwloc_bitmap_set_range(held, 0, 1);
        HostWant want = { .config = &c, .topology = t, .held = held };
        ActuatorHost h = { .tuning = &x->t };
        ActuatorMemo memo = { .stale = true };
        eio_match = "cpu0/";
        assert_int_equal(actuator_governor.apply(&h, &want, &memo, &err), -EIO);
        print_message("governor: %s\n", err);
        assert_non_null(strstr(err, "cpu0/cpufreq/scaling_governor: cannot write performance: Input/output error"));
        free(err);
        err = NULL;
        assert_file(x->sys, "devices/system/cpu/cpu0/cpufreq/scaling_governor", "schedutil");
        assert_file(x->sys, "devices/system/cpu/cpu1/cpufreq/scaling_governor", "performance"); /* went on */
        eio_match = NULL;
        assert_null(journal_original(x->journal, "devices/system/cpu/cpu0/cpufreq/scaling_governor"));
        assert_int_equal(actuator_undo_all(&h, NULL, NULL, NULL, &err), 1);
        free(err);
        assert_file(x->sys, "devices/system/cpu/cpu0/cpufreq/scaling_governor", "schedutil");
        assert_file(x->sys, "devices/system/cpu/cpu1/cpufreq/scaling_governor", "schedutil");
        actuator_memo_clear(&memo);
        hwloc_bitmap_free(held);
        topology_free(t);
        tree_free(x);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_choice_parsing),
                cmocka_unit_test(test_actuator_interface),
                cmocka_unit_test(test_actuators_across_a_reload),
                cmocka_unit_test(test_thp_apply_and_undo),
                cmocka_unit_test(test_governor),
                cmocka_unit_test(test_hugepage_refcounts),
                cmocka_unit_test(test_hugepage_unwritable),
                cmocka_unit_test(test_missing_and_unwritable),
                cmocka_unit_test(test_journal_recovery),
                cmocka_unit_test(test_journal_unreadable),
                cmocka_unit_test(test_hugetlbfs_mount),
                cmocka_unit_test(test_journal_foreign_keys),
                cmocka_unit_test(test_isolation_cgroup_v2),
                cmocka_unit_test(test_isolation_cgroup_v1),
                cmocka_unit_test(test_sysfs_eio),
        };
        return cmocka_run_group_tests_name("tuning", tests, NULL, NULL);
}
