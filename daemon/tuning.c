/* Host tuning actuators: THP, governors, hugepage pools; journaled, verified, undoable. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actuator.h"
#include "actuators.h"
#include "kfile.h"
#include "macro.h"
#include "crash.h"
#include "tuning.h"

#define NR_HUGEPAGES "devices/system/node/node%u/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages"
#define FREE_HUGEPAGES "devices/system/node/node%u/hugepages/hugepages-%" PRIu64 "kB/free_hugepages"

#define THP_ENABLED "kernel/mm/transparent_hugepage/enabled"
#define GOVERNOR "devices/system/cpu/cpu%u/cpufreq/scaling_governor"

/* The whole key must be the pattern: %n is reached only when everything before it matched. */
bool tuning_is_thp_key(const char *key) {
        return strcmp(key, THP_ENABLED) == 0;
}

bool tuning_is_governor_key(const char *key) {
        unsigned a;
        int end = -1;
        return sscanf(key, GOVERNOR "%n", &a, &end) == 1 && end >= 0 && key[end] == '\0';
}

bool tuning_is_pool_key(const char *key) {
        unsigned a;
        uint64_t b;
        int end = -1;
        return sscanf(key, NR_HUGEPAGES "%n", &a, &b, &end) == 2 && end >= 0 && key[end] == '\0';
}

/* A key below /proc/ is a procfs file, any other a sysfs file (relative, as journals before
 * the procfs actuators wrote them). */
static const char *key_base(const Tuning *t, const char **key) {
        if (strncmp(*key, TUNING_PROCFS, strlen(TUNING_PROCFS)) != 0)
                return t->sysfs;
        *key += strlen(TUNING_PROCFS);
        return t->procfs;
}

/* The current value of rel: the selected word of a choice list, or the trimmed content. */
int tuning_read(Tuning *t, const char *rel, char *buf, size_t len) {
        _cleanup_free_ char *text = NULL;
        const char *base = key_base(t, &rel);
        int r = kfile_read(base, rel, &text);
        if (r < 0)
                return r;
        return kfile_parse_choice(text, buf, len);
}

int tuning_write(Tuning *t, const char *rel, const char *value, char **ret_error) {
        *ret_error = NULL;
        crash_point("journaled");
        const char *file = rel, *base = key_base(t, &file);
        int r = actuator_write(base, file, value);
        char now[TUNING_VALUE_MAX];
        if (r < 0)
                actuator_error(ret_error, r, "%s: cannot write %s: %s", rel, value, strerror(-r));
        else {
                crash_point("written");
                r = tuning_read(t, rel, now, sizeof(now));
                if (r < 0 || strcmp(now, value) != 0)
                        r = actuator_error(ret_error, -EIO, "%s: wrote %s, reads back %s", rel, value,
                                           r < 0 ? "nothing" : now);
        }
        /* A refused write changed nothing: an original nobody overwrote needs no restore (which
         * the kernel would refuse as well). */
        const char *original = journal_original(t->journal, rel);
        if (r < 0 && original && tuning_read(t, rel, now, sizeof(now)) == 0 && strcmp(now, original) == 0)
                journal_forget(t->journal, rel);
        return r;
}

int tuning_set(Tuning *t, const char *rel, const char *value, char **ret_error) {
        *ret_error = NULL;
        char now[TUNING_VALUE_MAX];
        int r = tuning_read(t, rel, now, sizeof(now));
        if (r < 0)
                return actuator_error(ret_error, r, "%s: cannot read: %s", rel, strerror(-r));
        if (strcmp(now, value) == 0)
                return 0;
        r = journal_record(t->journal, rel, now);
        if (r < 0)
                return actuator_error(ret_error, r, "%s: cannot journal the original value: %s", rel, strerror(-r));
        return tuning_write(t, rel, value, ret_error);
}

int tuning_restore(Tuning *t, const char *rel, char **ret_error) {
        *ret_error = NULL;
        const char *orig = journal_original(t->journal, rel);
        if (!orig)
                return 0;
        if (!actuator_owner(rel)) {
                /* a tampered journal: never written, dropped */
                journal_forget(t->journal, rel);
                return actuator_error(ret_error, -EPERM, "the journal names %s, which no actuator owns: dropped", rel);
        }
        _cleanup_free_ char *value = strdup(orig);
        if (!value)
                return -ENOMEM;
        char now[TUNING_VALUE_MAX];
        if (tuning_read(t, rel, now, sizeof(now)) == 0 && strcmp(now, value) == 0)
                return journal_forget(t->journal, rel); /* it holds its original: nothing to write */
        const char *file = rel, *base = key_base(t, &file);
        int r = actuator_write(base, file, value);
        if (r < 0 && r != -ENOENT) /* a file that is gone (CPU offline, IRQ freed) has nothing to restore */
                return actuator_error(ret_error, r, "%s: cannot restore %s: %s", rel, value, strerror(-r));
        if (r == 0 && (tuning_read(t, rel, now, sizeof(now)) < 0 || strcmp(now, value) != 0))
                return actuator_error(ret_error, -EIO, "%s: restored %s, reads back otherwise", rel, value);
        return journal_forget(t->journal, rel);
}

/* Whether the (node, page size) pool has reservations of an owner other than except. */
static bool pool_in_use(const Tuning *t, unsigned node, uint64_t kib, const char *except) {
        JournalReservation res;
        for (size_t i = 0; journal_reservation(t->journal, i, &res); i++)
                if (res.node == node && res.page_kib == kib && (!except || strcmp(res.owner, except) != 0))
                        return true;
        return false;
}

typedef struct OwnedNotHeld {
        Tuning *t;
        bool (*owned)(const char *key);
        bool (*held)(Tuning *t, const char *key);
} OwnedNotHeld;

static bool owned_not_held(const char *key, void *userdata) {
        const OwnedNotHeld *o = userdata;
        return o->owned(key) && !(o->held && o->held(o->t, key));
}

int tuning_restore_owned(Tuning *t, bool (*owned)(const char *key), bool (*held)(Tuning *t, const char *key),
                         char **ret_error) {
        return tuning_restore_if(t, owned_not_held, &(OwnedNotHeld){ t, owned, held }, ret_error);
}

int tuning_restore_if(Tuning *t, bool (*restore)(const char *key, void *userdata), void *userdata,
                      char **ret_error) {
        *ret_error = NULL;
        /* Collect the keys first: restoring removes them from the object being walked. */
        size_t n = (size_t) json_object_object_length(t->journal->settings), k = 0;
        _cleanup_free_ char **keys = calloc(n + 1, sizeof(char *));
        if (!keys)
                return -ENOMEM;
        json_object_object_foreach(t->journal->settings, key, val) {
                (void) val;
                if (restore(key, userdata))
                        keys[k++] = strdup(key);
        }
        int restored = 0, first = 0;
        for (size_t i = 0; i < k; i++) {
                char *err = NULL;
                int r = keys[i] ? tuning_restore(t, keys[i], &err) : -ENOMEM;
                if (r == 0)
                        restored++;
                else if (first == 0) {
                        first = r;
                        *ret_error = err;
                        err = NULL;
                }
                free(err);
                free(keys[i]);
        }
        return first < 0 ? first : restored;
}

bool tuning_pool_reserved(Tuning *t, const char *key) {
        unsigned node;
        uint64_t kib;
        return sscanf(key, NR_HUGEPAGES, &node, &kib) == 2 && pool_in_use(t, node, kib, NULL);
}

int tuning_thp(Tuning *t, ThpMode mode, char **ret_error) {
        static const char rel[] = THP_ENABLED;
        static const char *const names[] = {
                [THP_ALWAYS] = "always", [THP_MADVISE] = "madvise", [THP_NEVER] = "never"
        };
        if (mode == THP_KEEP)
                return tuning_restore(t, rel, ret_error);
        return tuning_set(t, rel, names[mode], ret_error);
}

int tuning_governor(Tuning *t, unsigned cpu, const char *governor, char **ret_error) {
        char rel[128];
        snprintf(rel, sizeof(rel), GOVERNOR, cpu);
        if (!governor)
                return tuning_restore(t, rel, ret_error);
        return tuning_set(t, rel, governor, ret_error);
}

/* nr_hugepages (free false) or free_hugepages of a pool. */
static int read_count(Tuning *t, bool free_pages, unsigned node, uint64_t kib, uint64_t *ret) {
        char rel[160];
        if (free_pages)
                snprintf(rel, sizeof(rel), FREE_HUGEPAGES, node, kib);
        else
                snprintf(rel, sizeof(rel), NR_HUGEPAGES, node, kib);
        return kfile_read_u64(t->sysfs, rel, ret);
}

static int write_count(Tuning *t, unsigned node, uint64_t kib, uint64_t value) {
        char rel[160], buf[32];
        snprintf(rel, sizeof(rel), NR_HUGEPAGES, node, kib);
        snprintf(buf, sizeof(buf), "%" PRIu64, value);
        return actuator_write(t->sysfs, rel, buf);
}

int tuning_hugepages_reserve(Tuning *t, const char *owner, unsigned node, uint64_t page_kib, uint64_t pages,
                             uint64_t promised, char **ret_error) {
        *ret_error = NULL;
        uint64_t nr, free_pages;
        int r = read_count(t, false, node, page_kib, &nr);
        if (r >= 0)
                r = read_count(t, true, node, page_kib, &free_pages);
        if (r < 0)
                return actuator_error(ret_error, r, "node %u has no %" PRIu64 " kB hugepage pool: %s", node, page_kib,
                                      strerror(-r));
        uint64_t available = free_pages > promised ? free_pages - promised : 0;
        uint64_t shortfall = pages > available ? pages - available : 0;
        if (shortfall == 0)
                return journal_add_reservation(t->journal, owner, node, page_kib, 0);

        char rel[160], orig[32];
        snprintf(rel, sizeof(rel), NR_HUGEPAGES, node, page_kib);
        snprintf(orig, sizeof(orig), "%" PRIu64, nr);
        r = journal_record(t->journal, rel, orig);
        if (r < 0)
                return actuator_error(ret_error, r, "cannot journal %s: %s", rel, strerror(-r));

        uint64_t got = nr;
        for (int attempt = 0; attempt < 2; attempt++) {
                r = write_count(t, node, page_kib, nr + shortfall);
                if (r < 0 && r != -ENOMEM) /* the kernel says ENOMEM when it could not grow the pool fully */
                        return actuator_error(ret_error, r, "cannot write %s: %s", rel, strerror(-r));
                if (read_count(t, false, node, page_kib, &got) >= 0 && got >= nr + shortfall)
                        break;
                /* Too few: fragmentation. Gigantic pages need contiguous memory; compact once. */
                if (attempt == 0 && page_kib >= 1024 * 1024)
                        actuator_write(t->procfs, "sys/vm/compact_memory", "1");
                else
                        attempt++;
        }
        if (got < nr + shortfall) {
                write_count(t, node, page_kib, nr);
                if (journal_added_pages(t->journal, node, page_kib) == 0)
                        journal_forget(t->journal, rel);
                return actuator_error(ret_error, -ENOMEM,
                                      "node %u: needs %" PRIu64 " more %" PRIu64
                                      " kB hugepages, the kernel gave %" PRIu64 "%s",
                                      node, shortfall, page_kib, got > nr ? got - nr : 0,
                                      page_kib >= 1024 * 1024 ? " even after compaction" : "");
        }
        return journal_add_reservation(t->journal, owner, node, page_kib, shortfall);
}

int tuning_hugepages_release(Tuning *t, const char *owner, char **ret_error) {
        *ret_error = NULL;
        int first = 0;
        JournalReservation res;
        for (size_t i = 0; journal_next_reservation(t->journal, owner, &i, &res); i++) {
                char rel[160];
                snprintf(rel, sizeof(rel), NR_HUGEPAGES, res.node, res.page_kib);
                uint64_t floor = 0, nr;
                const char *original = journal_original(t->journal, rel);
                if (original)
                        kfile_parse_u64(original, &floor);
                int r = 0;
                if (res.added > 0 && (r = read_count(t, false, res.node, res.page_kib, &nr)) >= 0) {
                        uint64_t target = nr > res.added ? nr - res.added : 0;
                        r = write_count(t, res.node, res.page_kib, target < floor ? floor : target);
                }
                if (r < 0 && first == 0)
                        first = actuator_error(ret_error, r, "cannot shrink %s: %s", rel, strerror(-r));
                /* A pool nobody else holds pages of is back at its original: forget that. */
                if (r >= 0 && !pool_in_use(t, res.node, res.page_kib, owner))
                        journal_forget(t->journal, rel);
        }
        int r = journal_drop_reservations(t->journal, owner);
        return first < 0 ? first : r;
}

void tuning_hugepages_keep(Tuning *t, const char *owner) {
        JournalReservation res;
        for (size_t i = 0; journal_next_reservation(t->journal, owner, &i, &res); i++) {
                char rel[160];
                snprintf(rel, sizeof(rel), NR_HUGEPAGES, res.node, res.page_kib);
                json_object_object_del(t->journal->settings, rel);
        }
        journal_drop_reservations(t->journal, owner);
}

bool tuning_hugetlbfs_mounted(Tuning *t, uint64_t page_kib, char *buf, size_t len) {
        /* PID 1's mounts are the host's; kvmtuned's own may be a private copy (PrivateMounts=,
         * ProtectSystem=) that misses what was mounted since. Readable without privileges. */
        _cleanup_free_ char *mounts = NULL;
        if (kfile_read(t->procfs, "1/mounts", &mounts) < 0 && kfile_read(t->procfs, "mounts", &mounts) < 0)
                return false;
        for (char *line = strtok(mounts, "\n"); line; line = strtok(NULL, "\n")) {
                char dev[64], dir[256], type[32], opts[256];
                if (sscanf(line, "%63s %255s %31s %255s", dev, dir, type, opts) != 4 || strcmp(type, "hugetlbfs") != 0)
                        continue;
                uint64_t size = 0;
                const char *ps = strstr(opts, "pagesize=");
                if (ps) {
                        char unit = 0;
                        if (sscanf(ps, "pagesize=%" SCNu64 "%c", &size, &unit) >= 1)
                                size *= unit == 'G' ? 1024 * 1024 : unit == 'M' ? 1024 : 1;
                }
                /* Without pagesize= the mount serves the default size (2M on x86). */
                if (page_kib == 0 || size == page_kib || (size == 0 && page_kib == 2048)) {
                        snprintf(buf, len, "%s", dir);
                        return true;
                }
        }
        return false;
}
