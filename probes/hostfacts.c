/* Read-only facts about the host for `kvmtunectl doctor`, from files below root prefixes. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostfacts.h"
#include "kfile.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

/* base/rel exists (mode: F_OK or X_OK). Returns 1, 0, or -ENOMEM. */
static int exists(const char *base, const char *rel, int mode) {
        _cleanup_free_ char *path = NULL;
        if (kfile_path(base, rel, &path) < 0)
                return -ENOMEM;
        return access(path, mode) == 0;
}

/* The text of base/rel with white space runs made one space and trimmed, in *ret_text; NULL when
 * it cannot be read or is empty. Returns 0 or -ENOMEM. */
static int read_words(const char *base, const char *rel, char **ret_text) {
        _cleanup_free_ char *text = NULL;
        *ret_text = NULL;
        int r = kfile_read(base, rel, &text);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        char *out = text;
        for (const char *in = text; *in; in++) {
                if (!isspace((unsigned char) *in))
                        *out++ = *in;
                else if (out > text && out[-1] != ' ')
                        *out++ = ' ';
        }
        if (out > text && out[-1] == ' ')
                out--;
        *out = '\0';
        if (text[0])
                *ret_text = TAKE_PTR(text);
        return 0;
}

/* base/rel as a number, -1 when it cannot be read or is not one. */
static int64_t read_number(const char *base, const char *rel) {
        uint64_t v;
        return kfile_read_u64(base, rel, &v) == 0 && v <= INT64_MAX ? (int64_t) v : -1;
}

bool hostfacts_has_word(const char *list, const char *word) {
        size_t n = strlen(word);
        for (const char *p = list; (p = strstr(p, word)); p += n)
                if ((p == list || isspace((unsigned char) p[-1])) && (!p[n] || isspace((unsigned char) p[n])))
                        return true;
        return false;
}

/* vendor_id and flags of the first CPU; only the start is read, whatever the CPU count. */
static int read_cpuinfo(const char *procfs, HostFacts *f) {
        _cleanup_free_ char *path = NULL, *line = NULL;
        if (kfile_path(procfs, "cpuinfo", &path) < 0)
                return -ENOMEM;
        _cleanup_fclose_ FILE *file = fopen(path, "re");
        size_t size = 0;
        for (unsigned n = 0; file && n < 4096 && getline(&line, &size, file) > 0; n++) {
                char *colon = strchr(line, ':');
                if (!colon)
                        continue;
                line[strcspn(line, "\n")] = '\0';
                if (!f->cpu_vendor && strncmp(line, "vendor_id", 9) == 0) {
                        f->cpu_vendor = strdup(colon + 1 + strspn(colon + 1, " \t"));
                        if (!f->cpu_vendor)
                                return -ENOMEM;
                } else if (strncmp(line, "flags", 5) == 0) {
                        f->cpuinfo = true;
                        f->vmx = hostfacts_has_word(colon + 1, "vmx");
                        f->svm = hostfacts_has_word(colon + 1, "svm");
                        f->pdpe1gb = hostfacts_has_word(colon + 1, "pdpe1gb");
                        break;
                }
        }
        return 0;
}

/* Entries of base/rel but . and ..; 0 when it cannot be opened. */
static int count_entries(const char *base, const char *rel) {
        _cleanup_free_ char *path = NULL;
        if (kfile_path(base, rel, &path) < 0)
                return -ENOMEM;
        _cleanup_(closedirp) DIR *d = opendir(path);
        int n = 0;
        for (struct dirent *e; d && (e = readdir(d));)
                n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
        return n;
}

int hostfacts_irqbalance_pid(const char *procfs) {
        _cleanup_(closedirp) DIR *d = opendir(procfs);
        for (struct dirent *e; d && (e = readdir(d));) {
                if (!isdigit((unsigned char) e->d_name[0]) || strspn(e->d_name, "0123456789") != strlen(e->d_name))
                        continue;
                char rel[300];
                _cleanup_free_ char *comm = NULL;
                snprintf(rel, sizeof(rel), "%s/comm", e->d_name);
                if (read_words(procfs, rel, &comm) < 0)
                        return -ENOMEM;
                if (comm && strcmp(comm, "irqbalance") == 0)
                        return atoi(e->d_name);
        }
        return 0;
}

/* IRQBALANCE_BANNED_CPULIST= of etc/default/irqbalance (a shell fragment), quotes removed. */
static int read_irqbalance_banned(const char *etc, char **ret_value) {
        _cleanup_free_ char *text = NULL;
        *ret_value = NULL;
        int r = kfile_read(etc, "default/irqbalance", &text);
        if (r == -ENOMEM)
                return r;
        static const char key[] = "IRQBALANCE_BANNED_CPULIST=";
        for (char *line = r < 0 ? NULL : text, *next; line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                line += strspn(line, " \t");
                if (strncmp(line, key, strlen(key)) != 0)
                        continue;
                char *v = line + strlen(key);
                v[strcspn(v, "#")] = '\0';
                v += strspn(v, "\"' \t");
                v[strcspn(v, "\"' \t")] = '\0';
                free(*ret_value); /* the last assignment wins, as in the shell */
                *ret_value = strdup(v);
                if (!*ret_value)
                        return -ENOMEM;
        }
        return 0;
}

int hostfacts_cmdline_param(const char *cmdline, const char *name, char **ret_value) {
        size_t n = strlen(name);
        *ret_value = NULL;
        for (const char *p = cmdline; *p;) {
                while (isspace((unsigned char) *p)) /* every kind the word below ends at, or it never moves */
                        p++;
                bool quoted = false;
                const char *end = p;
                for (; *end && (quoted || !isspace((unsigned char) *end)); end++)
                        quoted ^= *end == '"';
                if (end - p == 2 && strncmp(p, "--", 2) == 0)
                        break;
                if ((size_t) (end - p) > n && strncmp(p, name, n) == 0 && p[n] == '=') {
                        const char *v = p + n + 1, *v_end = end;
                        if (v_end - v >= 2 && *v == '"' && v_end[-1] == '"')
                                v++, v_end--;
                        free(*ret_value);
                        *ret_value = strndup(v, (size_t) (v_end - v));
                        if (!*ret_value)
                                return -ENOMEM;
                }
                p = end;
        }
        return *ret_value ? 1 : 0;
}

static int read_cmdline(const char *procfs, HostFacts *f) {
        _cleanup_free_ char *text = NULL;
        int r = kfile_read(procfs, "cmdline", &text);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        f->cmdline = true;
        if (hostfacts_cmdline_param(text, "nohz_full", &f->nohz_full) < 0 ||
            hostfacts_cmdline_param(text, "isolcpus", &f->isolcpus) < 0 ||
            hostfacts_cmdline_param(text, "irqaffinity", &f->irqaffinity) < 0)
                return -ENOMEM;
        return 0;
}

static int read_cgroups(const char *sysfs, HostFacts *f) {
        _cleanup_free_ char *controllers = NULL;
        int r = kfile_read(sysfs, "fs/cgroup/cgroup.controllers", &controllers);
        if (r == -ENOMEM)
                return r;
        f->cgroup2 = r >= 0;
        f->cgroup2_cpuset = r >= 0 && hostfacts_has_word(controllers, "cpuset");
        r = exists(sysfs, "fs/cgroup/cpuset", F_OK);
        if (r < 0)
                return r;
        f->cgroup1_cpuset = r;
        return 0;
}

/* The libvirt hook: qemu.d/kvmtuned as the package installs it, else a single-file hook that
 * runs kvmtunectl. */
static int read_hook(const char *etc, HostFacts *f) {
        static const char dropin[] = "libvirt/hooks/qemu.d/kvmtuned", legacy[] = "libvirt/hooks/qemu";
        int there = exists(etc, dropin, F_OK), runs = exists(etc, dropin, X_OK);
        if (there < 0 || runs < 0)
                return -ENOMEM;
        f->hook = runs ? HOOK_EXECUTABLE : there ? HOOK_NOT_EXECUTABLE : HOOK_ABSENT;
        _cleanup_free_ char *text = NULL;
        int r = f->hook == HOOK_ABSENT ? kfile_read(etc, legacy, &text) : -ENOENT;
        if (r == -ENOMEM)
                return r;
        f->hook_legacy = r >= 0 && strstr(text, "kvmtunectl");
        if (f->hook != HOOK_ABSENT || f->hook_legacy)
                return kfile_path(etc, f->hook_legacy ? legacy : dropin, &f->hook_path);
        return 0;
}

static int read_kernel_files(const HostRoots *roots, HostFacts *f) {
        const char *sys = roots->sysfs;
        char choice[sizeof(f->thp)];
        _cleanup_free_ char *thp = NULL;
        if (read_words(sys, "kernel/mm/transparent_hugepage/enabled", &thp) < 0)
                return -ENOMEM;
        if (thp && kfile_parse_choice(thp, choice, sizeof(choice)) == 0)
                snprintf(f->thp, sizeof(f->thp), "%s", choice);
        f->hugepages_1g = exists(sys, "kernel/mm/hugepages/hugepages-1048576kB", F_OK) > 0;
        f->hugepages_1g_nr = read_number(sys, "kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages");
        f->numa_balancing = (int) read_number(roots->procfs, "sys/kernel/numa_balancing");
        f->ksm_run = (int) read_number(sys, "kernel/mm/ksm/run");
        f->ksm_merge_across_nodes = (int) read_number(sys, "kernel/mm/ksm/merge_across_nodes");
        f->ksm_pages_shared = read_number(sys, "kernel/mm/ksm/pages_shared");
        f->pm_qos_latency = exists(sys, "devices/system/cpu/cpu0/power/pm_qos_resume_latency_us", F_OK) > 0;
        f->dev_kvm = exists(roots->devfs, "kvm", F_OK) > 0;
        f->iommu_groups = count_entries(sys, "kernel/iommu_groups");
        if (read_words(sys, "devices/system/cpu/cpu0/cpufreq/scaling_driver", &f->cpufreq_driver) < 0 ||
            read_words(sys, "devices/system/cpu/cpu0/cpufreq/scaling_available_governors", &f->governors) < 0 ||
            read_words(sys, "devices/system/cpu/cpuidle/current_driver", &f->cpuidle_driver) < 0 ||
            read_words(roots->procfs, "1/comm", &f->pid1_comm) < 0 || f->iommu_groups < 0)
                return -ENOMEM;
        return 0;
}

int hostfacts_read(const HostRoots *roots, HostFacts *ret_facts) {
        HostFacts *f = ret_facts;
        *f = (HostFacts){ .hugepages_1g_nr = -1, .ksm_pages_shared = -1 };
        int r = read_kernel_files(roots, f);
        if (r >= 0)
                r = read_cpuinfo(roots->procfs, f);
        if (r >= 0)
                r = read_cmdline(roots->procfs, f);
        if (r >= 0)
                r = read_cgroups(roots->sysfs, f);
        if (r >= 0)
                r = read_hook(roots->etc, f);
        if (r >= 0)
                r = read_irqbalance_banned(roots->etc, &f->irqbalance_banned);
        if (r >= 0)
                r = f->irqbalance_pid = hostfacts_irqbalance_pid(roots->procfs);
        if (r >= 0)
                r = kfile_path(roots->runtime_dir, "control", &f->control_socket);
        if (r >= 0)
                f->control_exists = access(f->control_socket, F_OK) == 0;
        if (r < 0) {
                hostfacts_done(f);
                return r;
        }
        return 0;
}

void hostfacts_done(HostFacts *f) {
        char **strings[] = { &f->cpu_vendor,     &f->pid1_comm,   &f->irqbalance_banned, &f->nohz_full,
                             &f->isolcpus,       &f->irqaffinity, &f->cpufreq_driver,    &f->governors,
                             &f->cpuidle_driver, &f->hook_path,   &f->control_socket,    &f->libvirt_uri,
                             &f->libvirt_version };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                free(*strings[i]);
                *strings[i] = NULL;
        }
}
