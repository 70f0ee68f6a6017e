/* Host tuning actuators: transparent hugepages, cpufreq governors and per-node hugepage pools.
 * Each one reads before it writes, records the original value in the journal before its first
 * write, reads back what it wrote, and can put the original back. Paths are below the sysfs
 * and procfs roots, so tests run them against fixture trees. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "journal.h"

typedef struct Tuning {
        const char *sysfs; /* "/sys" or a fixture */
        const char *procfs; /* "/proc" or a fixture */
        Journal *journal;
} Tuning;

/* Keys (journal keys, and the rel of the calls below) name sysfs files relative to the sysfs
 * root, or procfs files as TUNING_PROCFS followed by the path below the procfs root. */
#define TUNING_PROCFS "/proc/"

/* The longest value read or written (an IRQ's CPU list on a large host runs long). */
#define TUNING_VALUE_MAX 4096

/* Writes value to rel, whose original the caller has journaled (a batch: journal_hold), and
 * reads it back. A write that fails while the file still holds its journaled original drops
 * that entry. Returns 0, -EIO when the read-back differs, or the write's negative errno;
 * *ret_error (malloc'd) says why. */
int tuning_write(Tuning *t, const char *rel, const char *value, char **ret_error);

/* Sets the file rel to value: records the original, writes, reads back. A value the file
 * already holds is not written (and nothing is recorded). Returns 0, -ENOENT when the file does
 * not exist, -EIO when the read-back differs, or another negative errno; *ret_error (malloc'd)
 * says why. */
int tuning_set(Tuning *t, const char *rel, const char *value, char **ret_error);

/* Whether key is the THP file, a CPU's governor, a node's hugepage pool: the journal keys of the
 * THP, governor and hugepages actuators (the whole key must match). */
bool tuning_is_thp_key(const char *key);
bool tuning_is_governor_key(const char *key);
bool tuning_is_pool_key(const char *key);

/* Writes back the recorded original of rel and forgets it. Returns 0 (also when nothing was
 * recorded, or the file is gone), -EPERM when rel is no actuator's (a tampered journal: the entry is dropped, nothing
 * written), or negative errno with *ret_error. */
int tuning_restore(Tuning *t, const char *rel, char **ret_error);

/* The current value of the sysfs file rel (the selected word of a choice list, or the trimmed
 * content) into buf. Returns 0 or negative errno. */
int tuning_read(Tuning *t, const char *rel, char *buf, size_t len);

/* Restores every recorded setting owned accepts, except those held (may be NULL) holds back.
 * Returns the number restored, or negative errno of the first failure (the rest are still
 * tried), with *ret_error. */
int tuning_restore_owned(Tuning *t, bool (*owned)(const char *key), bool (*held)(Tuning *t, const char *key),
                         char **ret_error);

/* The same for every recorded setting restore(key, userdata) accepts. */
int tuning_restore_if(Tuning *t, bool (*restore)(const char *key, void *userdata), void *userdata,
                      char **ret_error);

/* Whether key is a hugepage pool that still has reservations (its original waits for them). */
bool tuning_pool_reserved(Tuning *t, const char *key);

/* TransparentHugepages=: keep leaves the file alone (and restores a value kvmtuned set). */
int tuning_thp(Tuning *t, ThpMode mode, char **ret_error);

/* The governor of one CPU; NULL restores the original. -ENOENT when the CPU has no cpufreq. */
int tuning_governor(Tuning *t, unsigned cpu, const char *governor, char **ret_error);

/* Makes pages free hugepages of page_kib available on node for owner, growing the pool by
 * the shortfall only (free pages are used first, less the promised ones: pages other admitted
 * domains will take when they start, still free in the kernel's figures); for 1 GiB pages
 * memory is compacted first when the kernel gives too few. Returns 0, -ENOMEM with *ret_error
 * when the kernel cannot provide them (the pool is put back), or another negative errno. */
int tuning_hugepages_reserve(Tuning *t, const char *owner, unsigned node, uint64_t page_kib, uint64_t pages,
                             uint64_t promised,
                             char **ret_error);

/* Gives back what owner's reservations added; pools never shrink below what they held before
 * kvmtuned. Returns 0 or negative errno with *ret_error. */
int tuning_hugepages_release(Tuning *t, const char *owner, char **ret_error);

/* Hugepages=keep: owner's added pages become part of the host's pools: its reservations and
 * the originals of the pools they grew are forgotten, so nothing shrinks them later. */
void tuning_hugepages_keep(Tuning *t, const char *owner);

/* Whether a hugetlbfs of page_kib pages (0: any) is mounted, per procfs/1/mounts (else procfs/mounts); the mount point
 * into buf when found. */
bool tuning_hugetlbfs_mounted(Tuning *t, uint64_t page_kib, char *buf, size_t len);
