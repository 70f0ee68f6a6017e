/* The IRQ actuator: IRQAffinity=away-from-dedicated keeps device IRQs off the CPUs dedicated vCPUs
 * hold, through /proc/irq/N/smp_affinity_list, rescanned every StatsInterval for new IRQs. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actuator.h"
#include "actuators.h"
#include "cpulist.h"
#include "hostfacts.h"
#include "kfile.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

#define IRQ_KEY TUNING_PROCFS "irq/%u/smp_affinity_list"
#define IRQ_MAX 100000 /* more IRQ directories than this are not read (bounded work per scan) */
#define SAID_IRQBALANCE 1

bool irq_is_key(const char *key) {
        unsigned irq;
        int end = -1;
        return sscanf(key, IRQ_KEY "%n", &irq, &end) == 1 && end >= 0 && key[end] == '\0';
}

static int cmp_unsigned(const void *a, const void *b) {
        unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;
        return (x > y) - (x < y);
}

/* The IRQ numbers below procfs/irq, ascending. Returns how many into *ret_irqs, or -errno. */
static int list_irqs(const char *procfs, unsigned **ret_irqs) {
        _cleanup_free_ char *path = NULL;
        int r = kfile_path(procfs, "irq", &path);
        if (r < 0)
                return r;
        _cleanup_(closedirp) DIR *d = opendir(path);
        if (!d)
                return -errno;
        _cleanup_free_ unsigned *irqs = NULL;
        size_t n = 0, alloc = 0;
        for (struct dirent *e; (e = readdir(d)) && n < IRQ_MAX;) {
                if (!isdigit((unsigned char) e->d_name[0]) || strspn(e->d_name, "0123456789") != strlen(e->d_name))
                        continue;
                if (n == alloc) {
                        alloc = alloc ? alloc * 2 : 64;
                        unsigned *grown = realloc(irqs, alloc * sizeof(unsigned));
                        if (!grown)
                                return -ENOMEM;
                        irqs = grown;
                }
                irqs[n++] = (unsigned) strtoul(e->d_name, NULL, 10);
        }
        qsort(irqs, n, sizeof(unsigned), cmp_unsigned);
        *ret_irqs = TAKE_PTR(irqs);
        return (int) n;
}

/* What irq's affinity should be: its original (journaled, else current) without the held CPUs,
 * or every other usable CPU when only held ones were in it. Returns 1 when target differs from
 * the current value, 0 when not, -errno. */
static int irq_target(Tuning *t, const char *key, hwloc_const_bitmap_t held, hwloc_const_bitmap_t rest,
                      hwloc_bitmap_t target) {
        char now[4096];
        int r = tuning_read(t, key, now, sizeof(now));
        if (r < 0)
                return r;
        const char *original = journal_original(t->journal, key), *reason;
        _cleanup_bitmap_ hwloc_bitmap_t from = NULL, current = NULL;
        if (cpulist_parse(original ? original : now, &from, &reason) < 0 || cpulist_parse(now, &current, &reason) < 0)
                return -EINVAL;
        hwloc_bitmap_andnot(target, from, held);
        if (hwloc_bitmap_iszero(target))
                hwloc_bitmap_copy(target, rest);
        return !hwloc_bitmap_isequal(target, current);
}

typedef struct IrqScan {
        unsigned moved, kept_off, refused;
        char refused_list[200]; /* the first refused IRQ numbers */
} IrqScan;

/* Moves one IRQ off the held CPUs. A write the kernel refuses (EIO: per-CPU and managed IRQs)
 * is counted, and its journal entry dropped when nothing was ever changed. */
static int irq_move(Tuning *t, unsigned irq, hwloc_const_bitmap_t held, hwloc_const_bitmap_t rest, IrqScan *scan) {
        char key[96];
        snprintf(key, sizeof(key), IRQ_KEY, irq);
        _cleanup_bitmap_ hwloc_bitmap_t target = hwloc_bitmap_alloc();
        if (!target)
                return -ENOMEM;
        int r = irq_target(t, key, held, rest, target);
        if (r == -ENOENT || r == -EINVAL) /* freed meanwhile, or nothing a CPU list */
                return 0;
        if (r <= 0) {
                scan->kept_off += r == 0 && journal_original(t->journal, key);
                return r;
        }
        _cleanup_free_ char *value = cpulist_format(target), *error = NULL;
        if (!value)
                return -ENOMEM;
        r = tuning_set(t, key, value, &error);
        if (r >= 0) {
                scan->moved++;
                scan->kept_off++;
                return 0;
        }
        char now[4096];
        const char *original = journal_original(t->journal, key);
        if (original && tuning_read(t, key, now, sizeof(now)) == 0 && strcmp(now, original) == 0)
                journal_forget(t->journal, key);
        size_t len = strlen(scan->refused_list);
        if (scan->refused < 12)
                snprintf(scan->refused_list + len, sizeof(scan->refused_list) - len, "%s%u", len ? "," : "", irq);
        scan->refused++;
        return 0;
}

static int irq_restore(ActuatorHost *h, ActuatorMemo *memo, char **ret_message) {
        free(memo->summary);
        memo->summary = NULL;
        int r = tuning_restore_owned(h->tuning, irq_is_key, NULL, ret_message);
        if (r > 0)
                return actuator_error(ret_message, 1, "IRQ affinity restored for %d IRQ%s", r, r == 1 ? "" : "s");
        return r;
}

static int irq_apply(ActuatorHost *h, const HostWant *want, ActuatorMemo *memo, char **ret_message) {
        if (want->config->host.irq_affinity == IRQ_AFFINITY_KEEP || hwloc_bitmap_iszero(want->held))
                return irq_restore(h, memo, ret_message);
        _cleanup_bitmap_ hwloc_bitmap_t rest = hwloc_bitmap_alloc();
        if (!rest)
                return -ENOMEM;
        hwloc_bitmap_andnot(rest, want->topology->cpuset, want->held);
        _cleanup_free_ unsigned *irqs = NULL;
        int n = list_irqs(h->tuning->procfs, &irqs);
        if (n == -ENOENT)
                return actuator_error(ret_message, -EOPNOTSUPP, "no %s/irq: IRQ affinity left alone", h->tuning->procfs);
        if (n < 0)
                return n;
        IrqScan scan = { 0 };
        for (int i = 0; i < n; i++) {
                int r = irq_move(h->tuning, irqs[i], want->held, rest, &scan);
                if (r < 0)
                        return actuator_error(ret_message, r, "IRQ %u: %s", irqs[i], strerror(-r));
        }
        _cleanup_free_ char *held = cpulist_format(want->held);
        char refused[300] = "";
        if (scan.refused)
                snprintf(refused, sizeof(refused), "; %u the kernel does not let move (IRQ %s%s)", scan.refused,
                         scan.refused_list, scan.refused > 12 ? ",..." : "");
        free(memo->summary);
        if (asprintf(&memo->summary, "%u device IRQs kept off CPUs %s%s", scan.kept_off, held ? held : "?",
                     refused) < 0)
                memo->summary = NULL;
        int pid = memo->said == SAID_IRQBALANCE ? 0 : hostfacts_irqbalance_pid(h->tuning->procfs);
        if (pid > 0) {
                memo->said = SAID_IRQBALANCE;
                return actuator_error(ret_message, scan.moved > 0,
                                      "%s; irqbalance (pid %d) runs and will move IRQs back onto them: add %s to "
                                      "IRQBALANCE_BANNED_CPULIST in /etc/default/irqbalance and restart it",
                                      memo->summary ? memo->summary : "IRQs moved", pid, held ? held : "them");
        }
        if (scan.moved == 0)
                return 0;
        return actuator_error(ret_message, 1, "%u IRQ%s moved now; %s", scan.moved, scan.moved == 1 ? "" : "s",
                              memo->summary ? memo->summary : "");
}

/* The IRQs it moved, by their effective affinity (what the interrupt controller uses), must not
 * reach a held CPU. */
static int irq_verify(ActuatorHost *h, const HostWant *want, char **ret_message) {
        if (want->config->host.irq_affinity == IRQ_AFFINITY_KEEP || hwloc_bitmap_iszero(want->held))
                return 0;
        json_object_object_foreach(h->tuning->journal->settings, key, val) {
                (void) val;
                unsigned irq;
                char rel[96], text[4096];
                _cleanup_bitmap_ hwloc_bitmap_t eff = NULL;
                const char *reason;
                if (!irq_is_key(key) || sscanf(key, IRQ_KEY, &irq) != 1)
                        continue;
                snprintf(rel, sizeof(rel), TUNING_PROCFS "irq/%u/effective_affinity_list", irq);
                if (tuning_read(h->tuning, rel, text, sizeof(text)) < 0 || cpulist_parse(text, &eff, &reason) < 0)
                        continue; /* not every interrupt controller reports it */
                if (hwloc_bitmap_intersects(eff, want->held))
                        return actuator_error(ret_message, -ESTALE, "IRQ %u still fires on %s (effective affinity)",
                                              irq, text);
        }
        return 0;
}

static int irq_undo(ActuatorHost *h, ActuatorMemo *memo, char **ret_message) {
        if (memo)
                actuator_memo_clear(memo);
        return tuning_restore_owned(h->tuning, irq_is_key, NULL, ret_message);
}

const Actuator actuator_irq = {
        .name = "irq",
        .journal_namespace = TUNING_PROCFS "irq/N/smp_affinity_list",
        .owns_key = irq_is_key,
        .apply = irq_apply,
        .verify = irq_verify,
        .undo = irq_undo,
        .rescan = true,
};
