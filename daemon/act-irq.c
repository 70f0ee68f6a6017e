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

/* An IRQ's affinity under held CPUs, from its original: the original without them, or every
 * other usable CPU when only held ones were in it. */
static void affinity_under(hwloc_const_bitmap_t original, hwloc_const_bitmap_t held, hwloc_const_bitmap_t usable,
                           hwloc_bitmap_t ret) {
        hwloc_bitmap_andnot(ret, original, held);
        if (hwloc_bitmap_iszero(ret))
                hwloc_bitmap_andnot(ret, usable, held);
}

typedef struct IrqScan {
        Tuning *t;
        hwloc_const_bitmap_t held, before, usable; /* before: the held CPUs of the last scan, or NULL */
        unsigned moved, refused;
        char refused_list[200]; /* the first refused IRQ numbers */
} IrqScan;

/* Where irq should go now into target. An IRQ on a held CPU leaves it (keeping the rest of its
 * affinity, whoever set it); one kvmtuned moved and nobody touched since follows the held CPUs
 * (CPUs given back); any other is left as irqbalance or the operator set it. Returns 1 when it
 * should move, 0 when not, -errno. */
static int irq_target(IrqScan *scan, const char *key, hwloc_bitmap_t target) {
        char now[TUNING_VALUE_MAX];
        int r = tuning_read(scan->t, key, now, sizeof(now));
        if (r < 0)
                return r == -ENOENT || r == -EINVAL ? 0 : r; /* freed meanwhile, or too long to be ours */
        const char *original = journal_original(scan->t->journal, key), *reason;
        _cleanup_bitmap_ hwloc_bitmap_t current = NULL, from = NULL, was = hwloc_bitmap_alloc();
        if (!was)
                return -ENOMEM;
        if (cpulist_parse(now, &current, &reason) < 0 || (original && cpulist_parse(original, &from, &reason) < 0))
                return 0;
        if (hwloc_bitmap_intersects(current, scan->held)) {
                hwloc_bitmap_andnot(target, current, scan->held);
                if (hwloc_bitmap_iszero(target))
                        affinity_under(from ? from : current, scan->held, scan->usable, target);
                return 1;
        }
        if (!from || !scan->before)
                return 0;
        affinity_under(from, scan->before, scan->usable, was);
        if (!hwloc_bitmap_isequal(was, current)) /* changed by someone else since: theirs */
                return 0;
        affinity_under(from, scan->held, scan->usable, target);
        return !hwloc_bitmap_isequal(target, current);
}

/* Moves the IRQs in irqs[] to their targets: every original journaled in one save first, then
 * the writes. A write the kernel refuses (per-CPU and managed IRQs: EIO, EPERM) is counted and
 * kept in refused; its journal entry goes (nothing changed). Returns 0 or -errno. */
static int irq_move_all(IrqScan *scan, const unsigned *irqs, char **values, unsigned n, hwloc_bitmap_t refused) {
        char key[96], now[TUNING_VALUE_MAX];
        journal_hold(scan->t->journal);
        for (unsigned i = 0; i < n; i++) {
                snprintf(key, sizeof(key), IRQ_KEY, irqs[i]);
                if (tuning_read(scan->t, key, now, sizeof(now)) == 0)
                        journal_record(scan->t->journal, key, now);
        }
        int r = journal_release(scan->t->journal);
        if (r < 0)
                return r;
        journal_hold(scan->t->journal);
        for (unsigned i = 0; i < n; i++) {
                _cleanup_free_ char *error = NULL;
                snprintf(key, sizeof(key), IRQ_KEY, irqs[i]);
                if (tuning_write(scan->t, key, values[i], &error) >= 0) {
                        scan->moved++;
                        continue;
                }
                hwloc_bitmap_set(refused, irqs[i]);
                size_t len = strlen(scan->refused_list);
                if (scan->refused++ < 12)
                        snprintf(scan->refused_list + len, sizeof(scan->refused_list) - len, "%s%u", len ? "," : "",
                                 irqs[i]);
        }
        return journal_release(scan->t->journal);
}

/* Drops the journal entries of IRQs that are gone (a device freed its vectors): a later IRQ of
 * that number is another device's, and must not get the old one's original. */
static void forget_gone(Tuning *t, const unsigned *irqs, int n) {
        size_t total = (size_t) json_object_object_length(t->journal->settings), k = 0;
        _cleanup_free_ char **gone = calloc(total + 1, sizeof(char *));
        if (!gone)
                return;
        json_object_object_foreach(t->journal->settings, key, val) {
                (void) val;
                unsigned irq;
                if (!irq_is_key(key) || sscanf(key, IRQ_KEY, &irq) != 1 ||
                    bsearch(&irq, irqs, (size_t) n, sizeof(unsigned), cmp_unsigned))
                        continue;
                gone[k++] = strdup(key);
        }
        journal_hold(t->journal);
        for (size_t i = 0; i < k; i++) {
                if (gone[i])
                        journal_forget(t->journal, gone[i]);
                free(gone[i]);
        }
        journal_release(t->journal);
}

static unsigned journaled_irqs(const Tuning *t) {
        unsigned n = 0;
        json_object_object_foreach(t->journal->settings, key, val) {
                (void) val;
                n += irq_is_key(key);
        }
        return n;
}

static int irq_restore(ActuatorHost *h, ActuatorMemo *memo, char **ret_message) {
        actuator_memo_clear(memo);
        journal_hold(h->tuning->journal);
        int r = tuning_restore_owned(h->tuning, irq_is_key, NULL, ret_message);
        int saved = journal_release(h->tuning->journal);
        if (r >= 0 && saved < 0)
                r = actuator_error(ret_message, saved, "cannot save the journal: %s", strerror(-saved));
        if (r > 0)
                return actuator_error(ret_message, 1, "IRQ affinity restored for %d IRQ%s", r, r == 1 ? "" : "s");
        return r;
}

/* Plans and moves every IRQ. Returns 0 or -errno with *ret_message. */
static int irq_scan(ActuatorHost *h, ActuatorMemo *memo, IrqScan *scan, char **ret_message) {
        _cleanup_free_ unsigned *irqs = NULL, *moving = NULL;
        int n = list_irqs(h->tuning->procfs, &irqs);
        if (n < 0)
                return n;
        forget_gone(h->tuning, irqs, n);
        _cleanup_free_ char **values = calloc((size_t) n + 1, sizeof(char *));
        moving = calloc((size_t) n + 1, sizeof(unsigned));
        _cleanup_bitmap_ hwloc_bitmap_t target = hwloc_bitmap_alloc();
        if (!values || !moving || !target)
                return -ENOMEM;
        unsigned m = 0;
        int r = 0;
        for (int i = 0; i < n && r >= 0; i++) {
                char key[96];
                snprintf(key, sizeof(key), IRQ_KEY, irqs[i]);
                if (hwloc_bitmap_isset(memo->refused, irqs[i]) || (r = irq_target(scan, key, target)) <= 0)
                        continue;
                if (!(values[m] = cpulist_format(target)))
                        r = -ENOMEM;
                else
                        moving[m++] = irqs[i];
        }
        if (r >= 0)
                r = irq_move_all(scan, moving, values, m, memo->refused);
        for (unsigned i = 0; i < m; i++)
                free(values[i]);
        return r < 0 ? actuator_error(ret_message, r, "IRQ affinity: %s", strerror(-r)) : 0;
}

/* The journaled IRQs (those kvmtuned moved) whose affinity, or with effective their effective
 * affinity (where the interrupt controller routes it now), names a held CPU. Returns how many,
 * the first of them in *ret_first and its list in first_list. */
static unsigned irqs_on_held(Tuning *t, hwloc_const_bitmap_t held, bool effective, unsigned *ret_first,
                             char *first_list, size_t len) {
        unsigned n = 0;
        json_object_object_foreach(t->journal->settings, key, val) {
                (void) val;
                unsigned irq;
                char rel[96], text[TUNING_VALUE_MAX];
                _cleanup_bitmap_ hwloc_bitmap_t set = NULL;
                const char *reason;
                if (!irq_is_key(key) || sscanf(key, IRQ_KEY, &irq) != 1)
                        continue;
                snprintf(rel, sizeof(rel), TUNING_PROCFS "irq/%u/%s", irq,
                         effective ? "effective_affinity_list" : "smp_affinity_list");
                if (tuning_read(t, rel, text, sizeof(text)) < 0 || cpulist_parse(text, &set, &reason) < 0 ||
                    !hwloc_bitmap_intersects(set, held))
                        continue; /* not every interrupt controller reports an effective affinity */
                if (n++ == 0) {
                        *ret_first = irq;
                        snprintf(first_list, len, "%s", text);
                }
        }
        return n;
}

static int irq_apply(ActuatorHost *h, const HostWant *want, ActuatorMemo *memo, char **ret_message) {
        if (want->config->host.irq_affinity == IRQ_AFFINITY_KEEP || hwloc_bitmap_iszero(want->held))
                return memo->applied_for || journaled_irqs(h->tuning) ? irq_restore(h, memo, ret_message) : 0;
        if (!memo->applied_for || !hwloc_bitmap_isequal(memo->applied_for, want->held)) {
                hwloc_bitmap_free(memo->refused); /* other CPUs: the kernel is asked again */
                memo->refused = NULL;
        }
        if (!memo->refused && !(memo->refused = hwloc_bitmap_alloc()))
                return -ENOMEM;
        IrqScan scan = { .t = h->tuning, .held = want->held, .before = memo->applied_for,
                         .usable = want->topology->cpuset };
        int r = irq_scan(h, memo, &scan, ret_message);
        if (r == -ENOENT)
                return actuator_error(ret_message, -EOPNOTSUPP, "no %s/irq: IRQ affinity left alone", h->tuning->procfs);
        if (r < 0)
                return r;
        hwloc_bitmap_free(memo->applied_for);
        memo->applied_for = hwloc_bitmap_dup(want->held);
        _cleanup_free_ char *held = cpulist_format(want->held), *refused = cpulist_format(memo->refused);
        unsigned kept = journaled_irqs(h->tuning), first;
        char list[TUNING_VALUE_MAX], lagging[96] = "";
        unsigned late = irqs_on_held(h->tuning, want->held, true, &first, list, sizeof(list));
        if (late > 0)
                snprintf(lagging, sizeof(lagging), " (%u still routed there until their next interrupt)", late);
        free(memo->summary);
        memo->summary = NULL;
        if (kept > 0 && asprintf(&memo->summary, "%u device IRQ%s kept off CPUs %s%s%s%s", kept, kept == 1 ? "" : "s",
                                 held ? held : "?", lagging,
                                 refused && *refused ? "; the kernel does not let move IRQ " : "",
                                 refused ? refused : "") < 0)
                memo->summary = NULL;
        if (scan.moved == 0 && scan.refused == 0)
                return 0;
        int pid = memo->said == SAID_IRQBALANCE ? 0 : hostfacts_irqbalance_pid(h->tuning->procfs);
        if (pid > 0)
                memo->said = SAID_IRQBALANCE;
        char more[300] = "";
        if (pid > 0)
                snprintf(more, sizeof(more),
                         "; irqbalance (pid %d) runs and would move IRQs back onto them: add %s to "
                         "IRQBALANCE_BANNED_CPULIST in /etc/default/irqbalance and restart it",
                         pid, held ? held : "them");
        char refused_note[300] = "";
        if (scan.refused)
                snprintf(refused_note, sizeof(refused_note), ", %u the kernel does not let move (IRQ %s%s)", scan.refused,
                         scan.refused_list, scan.refused > 12 ? ",..." : "");
        return actuator_error(ret_message, scan.moved > 0, "%u IRQ%s moved now%s; %s%s", scan.moved,
                              scan.moved == 1 ? "" : "s", refused_note, memo->summary ? memo->summary : "none kept off",
                              more);
}

/* The IRQs it moved stay off the held CPUs. Their effective affinity is not a drift: most
 * controllers move an IRQ at its next interrupt, so a quiet one keeps its old route a while
 * (the summary says how many). */
static int irq_verify(ActuatorHost *h, const HostWant *want, char **ret_message) {
        unsigned first;
        char list[TUNING_VALUE_MAX];
        if (want->config->host.irq_affinity == IRQ_AFFINITY_KEEP || hwloc_bitmap_iszero(want->held) ||
            irqs_on_held(h->tuning, want->held, false, &first, list, sizeof(list)) == 0)
                return 0;
        return actuator_error(ret_message, -ESTALE, "IRQ %u is on CPUs %s again", first, list);
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
