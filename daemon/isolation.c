/* Host isolation through a v1 cpuset cgroup. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpulist.h"
#include "isolation.h"
#include "actuator.h"
#include "journal.h"
#include "kfile.h"
#include "macro.h"

#define V1_ROOT "fs/cgroup/cpuset"
#define V2_ROOT "fs/cgroup"
#define GROUP_NAME "kvmtuned.housekeeping"
#define PF_KTHREAD 0x00200000

/* ---- systemd: AllowedCPUs= of the host's units ----------------------------------------- */

#define SYSTEMD "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define JOURNAL_PREFIX "systemd:"

static const char *const host_units[] = { "system.slice", "user.slice", "init.scope" };

static int bus(Isolation *iso, sd_bus **ret) {
        if (!iso->bus) {
                int r = sd_bus_open_system(&iso->bus);
                if (r < 0)
                        return r;
        }
        *ret = iso->bus;
        return 0;
}

static const char *unit_iface(const char *unit) {
        size_t n = strlen(unit);
        return n > 6 && strcmp(unit + n - 6, ".scope") == 0 ? SYSTEMD ".Scope" : SYSTEMD ".Slice";
}

/* systemd's CPU mask: byte i, bit j stands for CPU 8i + j. */
static void to_mask(hwloc_const_bitmap_t set, uint8_t *mask, size_t *len) {
        memset(mask, 0, 1024);
        int last = hwloc_bitmap_last(set), cpu;
        *len = last < 0 ? 0 : (size_t) last / 8 + 1;
        hwloc_bitmap_foreach_begin(cpu, set) {
                if (cpu < 8192)
                        mask[cpu / 8] |= (uint8_t) (1u << (cpu % 8));
        }
        hwloc_bitmap_foreach_end();
}

static char *to_hex(const uint8_t *mask, size_t len) {
        char *s = malloc(len * 2 + 1);
        for (size_t i = 0; s && i < len; i++)
                snprintf(s + 2 * i, 3, "%02x", mask[i]);
        if (s)
                s[len * 2] = '\0';
        return s;
}

static size_t from_hex(const char *s, uint8_t *mask) {
        size_t n = 0;
        unsigned v;
        while (n < 1024 && sscanf(s + 2 * n, "%2x", &v) == 1)
                mask[n++] = (uint8_t) v;
        return n;
}

static int get_allowed(Isolation *iso, const char *unit, uint8_t *mask, size_t *len, char **ret_error) {
        sd_bus *b;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *unit_reply = NULL, *prop = NULL;
        const char *path;
        const void *data;
        size_t size;
        int r = bus(iso, &b);
        if (r >= 0)
                r = sd_bus_call_method(b, SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, "GetUnit", &e, &unit_reply, "s",
                                       unit);
        if (r >= 0)
                r = sd_bus_message_read(unit_reply, "o", &path);
        if (r >= 0)
                r = sd_bus_get_property(b, SYSTEMD, path, unit_iface(unit), "AllowedCPUs", &e, &prop, "ay");
        if (r >= 0)
                r = sd_bus_message_read_array(prop, 'y', &data, &size);
        if (r < 0) {
                actuator_error(ret_error, r, "%s: cannot read AllowedCPUs: %s", unit,
                               e.message ? e.message : strerror(-r));
                sd_bus_error_free(&e);
                return r;
        }
        *len = size < 1024 ? size : 1024;
        memcpy(mask, data, *len);
        return 0;
}

static int set_allowed(Isolation *iso, const char *unit, const uint8_t *mask, size_t len, char **ret_error) {
        sd_bus *b;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = bus(iso, &b);
        if (r >= 0)
                r = sd_bus_message_new_method_call(b, &m, SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, "SetUnitProperties");
        /* runtime only: nothing survives a reboot, and nothing is written to /etc */
        if (r >= 0)
                r = sd_bus_message_append(m, "sb", unit, 1);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "AllowedCPUs");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "ay");
        if (r >= 0)
                r = sd_bus_message_append_array(m, 'y', mask, len);
        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_call(b, m, 0, &e, NULL);
        if (r < 0) {
                actuator_error(ret_error, r, "%s: cannot set AllowedCPUs: %s", unit,
                               e.message ? e.message : strerror(-r));
                sd_bus_error_free(&e);
        }
        return r;
}

/* Whether two CPU masks name the same CPUs: systemd answers with the mask padded to whole
 * words, so bytes one of them lacks count as zero. */
static bool masks_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len) {
        for (size_t i = 0; i < a_len || i < b_len; i++)
                if ((i < a_len ? a[i] : 0) != (i < b_len ? b[i] : 0))
                        return false;
        return true;
}

bool isolation_owns_key(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(host_units); i++) {
                char own[64];
                snprintf(own, sizeof(own), JOURNAL_PREFIX "%s:AllowedCPUs", host_units[i]);
                if (strcmp(key, own) == 0)
                        return true;
        }
        return false;
}

static int systemd_apply(Isolation *iso, hwloc_const_bitmap_t allowed, char **ret_error) {
        uint8_t want[1024], now[1024];
        size_t want_len, now_len;
        to_mask(allowed, want, &want_len);
        int changed = 0;
        for (size_t i = 0; i < ELEMENTSOF(host_units); i++) {
                const char *unit = host_units[i];
                char key[64];
                snprintf(key, sizeof(key), JOURNAL_PREFIX "%s:AllowedCPUs", unit);
                int r = get_allowed(iso, unit, now, &now_len, ret_error);
                if (r < 0)
                        return r;
                _cleanup_free_ char *hex = to_hex(now, now_len);
                if (!hex)
                        return -ENOMEM;
                r = journal_record(iso->journal, key, hex);
                if (r < 0)
                        return actuator_error(ret_error, r, "cannot journal %s: %s", key, strerror(-r));
                r = set_allowed(iso, unit, want, want_len, ret_error);
                if (r < 0)
                        return r;
                r = get_allowed(iso, unit, now, &now_len, ret_error);
                if (r < 0)
                        return r;
                if (!masks_equal(now, now_len, want, want_len))
                        return actuator_error(ret_error, -EIO, "%s: AllowedCPUs reads back otherwise", unit);
                changed++;
        }
        iso->active = true;
        return changed;
}

/* Every CPU the kernel has online, as a mask, into mask (1024 bytes); returns its length, 0 when
 * it cannot be read. */
static size_t online_mask(const Isolation *iso, uint8_t *mask) {
        _cleanup_free_ char *text = NULL;
        _cleanup_bitmap_ hwloc_bitmap_t set = NULL;
        if (kfile_read(iso->sysfs ? iso->sysfs : "/sys", "devices/system/cpu/online", &text) < 0)
                return 0;
        text[strcspn(text, "\n")] = '\0';
        if (cpulist_parse(text, &set, NULL) < 0)
                return 0;
        size_t len = 0;
        to_mask(set, mask, &len);
        return len;
}

static bool mask_empty(const uint8_t *mask, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (mask[i])
                        return false;
        return true;
}

static int systemd_undo(Isolation *iso, char **ret_error) {
        int restored = 0;
        for (size_t i = 0; i < ELEMENTSOF(host_units); i++) {
                char key[64];
                snprintf(key, sizeof(key), JOURNAL_PREFIX "%s:AllowedCPUs", host_units[i]);
                const char *orig = journal_original(iso->journal, key);
                if (!orig)
                        continue;
                uint8_t mask[1024], all[1024];
                size_t len = from_hex(orig, mask), n;
                /* An empty AllowedCPUs= is no cpuset setting to systemd, so it leaves the unit's
                 * cpuset.cpus as kvmtuned confined it while another unit (libvirt's machines)
                 * keeps the cpuset controller enabled: the host lab found host services still
                 * confined after the undo. Every online CPU first makes systemd rewrite it. */
                int r = mask_empty(mask, len) && (n = online_mask(iso, all)) > 0
                                ? set_allowed(iso, host_units[i], all, n, ret_error)
                                : 0;
                if (r >= 0)
                        r = set_allowed(iso, host_units[i], mask, len, ret_error);
                if (r < 0)
                        return r;
                journal_forget(iso->journal, key);
                restored++;
        }
        iso->active = false;
        return restored;
}

/* ---- cgroups: a cpuset group of our own ---------------------------------------------------- */

/* The cpuset hierarchy below sysfs: v1's own mount, else a v2 hierarchy whose root offers the
 * cpuset controller (a hybrid host binds cpuset to v1, so v1 is looked at first). NULL: none. */
static const char *cgroup_root(const Isolation *iso, bool *ret_v2) {
        _cleanup_free_ char *text = NULL;
        *ret_v2 = false;
        if (kfile_read(iso->sysfs, V1_ROOT "/cpuset.cpus", &text) == 0)
                return V1_ROOT;
        free(text);
        text = NULL;
        if (kfile_read(iso->sysfs, V2_ROOT "/cgroup.controllers", &text) == 0 && strstr(text, "cpuset")) {
                *ret_v2 = true;
                return V2_ROOT;
        }
        return NULL;
}

bool isolation_available(const Isolation *iso) {
        bool v2;
        return iso->systemd || cgroup_root(iso, &v2);
}

void isolation_done(Isolation *iso) {
        iso->bus = sd_bus_flush_close_unref(iso->bus);
}

/* Kernel threads cannot be moved and must not be: /proc/PID/stat field 9 carries PF_KTHREAD. */
static bool is_kernel_thread(const Isolation *iso, long pid) {
        char rel[64];
        snprintf(rel, sizeof(rel), "%ld/stat", pid);
        _cleanup_free_ char *stat = NULL;
        if (kfile_read(iso->procfs, rel, &stat) < 0)
                return true; /* gone, or unreadable: leave it */
        const char *p = strrchr(stat, ')'); /* the name may hold spaces and parentheses */
        unsigned long flags = 0;
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
                return true;
        return flags & PF_KTHREAD;
}

/* Moves the processes listed in from/cgroup.procs to to/cgroup.procs; kernel threads and
 * processes that exit meanwhile are skipped. Returns how many moved. */
static int move_all(const Isolation *iso, const char *from, const char *to, bool skip_kernel) {
        char rel[128];
        snprintf(rel, sizeof(rel), "%s/cgroup.procs", from);
        _cleanup_free_ char *procs = NULL;
        if (kfile_read(iso->sysfs, rel, &procs) < 0)
                return 0;
        snprintf(rel, sizeof(rel), "%s/cgroup.procs", to);
        int moved = 0;
        for (char *line = strtok(procs, "\n"); line; line = strtok(NULL, "\n")) {
                long pid = strtol(line, NULL, 10);
                if (pid <= 0 || (skip_kernel && is_kernel_thread(iso, pid)))
                        continue;
                if (actuator_write(iso->sysfs, rel, line) == 0)
                        moved++;
        }
        return moved;
}

static int cpuset_apply(Isolation *iso, hwloc_const_bitmap_t allowed, char **ret_error) {
        bool v2;
        const char *root = cgroup_root(iso, &v2);
        if (!root)
                return actuator_error(ret_error, -ENOENT, "no cpuset hierarchy (v1 or v2) below %s/fs/cgroup",
                                      iso->sysfs);
        char group[128], rel[192];
        snprintf(group, sizeof(group), "%s/" GROUP_NAME, root);
        _cleanup_free_ char *cpus = cpulist_format(allowed), *path = NULL;
        if (!cpus || kfile_path(iso->sysfs, group, &path) < 0)
                return -ENOMEM;
        if (!*cpus)
                return actuator_error(ret_error, -EINVAL, "host isolation would leave the host no CPU");
        int r;
        if (v2) {
                /* Children of the root see cpuset files only once it is in its subtree_control;
                 * it stays enabled (children without values of their own inherit every CPU). */
                _cleanup_free_ char *ctl = NULL;
                if (kfile_read(iso->sysfs, V2_ROOT "/cgroup.subtree_control", &ctl) < 0 || !strstr(ctl, "cpuset")) {
                        r = actuator_write(iso->sysfs, V2_ROOT "/cgroup.subtree_control", "+cpuset");
                        if (r < 0)
                                return actuator_error(ret_error, r,
                                                      "cannot enable cpuset in %s/" V2_ROOT
                                                      "/cgroup.subtree_control: %s",
                                                      iso->sysfs, strerror(-r));
                }
        }
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return actuator_error(ret_error, -errno, "cannot create %s: %m", path);
        if (!v2) {
                /* v1: mems first, a cpuset takes no task until both are set; v2 inherits mems. */
                _cleanup_free_ char *mems = NULL;
                snprintf(rel, sizeof(rel), "%s/cpuset.mems", root);
                if (kfile_read(iso->sysfs, rel, &mems) < 0)
                        return actuator_error(ret_error, -ENOENT, "cannot read %s/%s", iso->sysfs, rel);
                mems[strcspn(mems, "\n")] = '\0';
                snprintf(rel, sizeof(rel), "%s/cpuset.mems", group);
                r = actuator_write(iso->sysfs, rel, mems);
                if (r < 0)
                        return actuator_error(ret_error, r, "cannot set %s/cpuset.mems: %s", path, strerror(-r));
        }
        snprintf(rel, sizeof(rel), "%s/cpuset.cpus", group);
        r = actuator_write(iso->sysfs, rel, cpus);
        if (r < 0)
                return actuator_error(ret_error, r, "cannot set %s/cpuset.cpus to %s: %s", path, cpus, strerror(-r));
        _cleanup_free_ char *back = NULL;
        if (kfile_read(iso->sysfs, rel, &back) < 0 || (back[strcspn(back, "\n")] = '\0', strcmp(back, cpus)))
                return actuator_error(ret_error, -EIO, "%s/cpuset.cpus reads back %s, not %s", path,
                                      back ? back : "nothing", cpus);
        iso->active = true;
        return move_all(iso, root, group, true);
}

int isolation_apply(Isolation *iso, hwloc_const_bitmap_t allowed, char **ret_error) {
        *ret_error = NULL;
        int r = iso->systemd ? systemd_apply(iso, allowed, ret_error) : cpuset_apply(iso, allowed, ret_error);
        if (r >= 0)
                return r;
        /* Part of it may be in place (a unit systemd refused after others took it): all of it is
         * undone at once, so nothing stays confined that kvmtuned does not know about. */
        _cleanup_free_ char *undo_error = NULL;
        if (isolation_undo(iso, &undo_error) < 0) {
                char *both = NULL;
                if (asprintf(&both, "%s; undoing it failed too: %s", *ret_error ? *ret_error : strerror(-r),
                             undo_error ? undo_error : "?") >= 0) {
                        free(*ret_error);
                        *ret_error = both;
                }
        }
        return r;
}

int isolation_undo(Isolation *iso, char **ret_error) {
        *ret_error = NULL;
        if (iso->systemd)
                return systemd_undo(iso, ret_error);
        bool v2;
        const char *root = cgroup_root(iso, &v2);
        if (!root)
                return 0;
        char group[128];
        snprintf(group, sizeof(group), "%s/" GROUP_NAME, root);
        _cleanup_free_ char *path = NULL;
        if (kfile_path(iso->sysfs, group, &path) < 0)
                return -ENOMEM;
        struct stat st;
        if (stat(path, &st) < 0) {
                iso->active = false;
                return 0;
        }
        /* Processes forked while we move the others land in the group again: repeat until
         * rmdir finds it empty (EBUSY means someone is still in it). */
        int moved = 0, r = -EBUSY;
        for (int attempt = 0; attempt < 20 && r == -EBUSY; attempt++) {
                moved += move_all(iso, group, root, false);
                r = rmdir(path) < 0 ? -errno : 0;
                if (r == -EBUSY)
                        usleep(10000);
        }
        if (r < 0)
                return actuator_error(ret_error, r, "cannot remove %s: %s", path, strerror(-r));
        iso->active = false;
        return moved;
}
