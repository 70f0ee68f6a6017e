/* Read-only facts about the host for `kvmtunectl doctor`, from files below root prefixes: no judgement. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Where the host's files are: the real ones, or a fixture tree standing in for them. */
typedef struct HostRoots {
        const char *sysfs; /* "/sys" */
        const char *procfs; /* "/proc" */
        const char *devfs; /* "/dev": kvm */
        const char *etc; /* "/etc": the libvirt hook, /etc/default/irqbalance */
        const char *runtime_dir; /* "/run/kvmtuned": the daemon's control socket */
} HostRoots;

/* The libvirt hook file as found. */
typedef enum HookFile { HOOK_ABSENT, HOOK_NOT_EXECUTABLE, HOOK_EXECUTABLE } HookFile;

/* Unknown numbers (the file is absent or unreadable) are -1, unknown strings NULL. */
typedef struct HostFacts {
        /* procfs/cpuinfo, its first CPU */
        bool cpuinfo; /* it could be read and had a flags line */
        char *cpu_vendor; /* vendor_id: "GenuineIntel", "AuthenticAMD", NULL */
        bool vmx, svm, pdpe1gb;
        bool dev_kvm; /* devfs/kvm exists */
        int iommu_groups; /* entries of sysfs/kernel/iommu_groups; 0 when it is absent */
        /* sysfs/kernel/mm/hugepages/hugepages-1048576kB */
        bool hugepages_1g;
        int64_t hugepages_1g_nr; /* its nr_hugepages */
        /* sysfs/fs/cgroup */
        bool cgroup2; /* cgroup.controllers exists: a v2 hierarchy at the root */
        bool cgroup2_cpuset; /* and lists cpuset */
        bool cgroup1_cpuset; /* fs/cgroup/cpuset exists: a v1 cpuset hierarchy */
        char *pid1_comm; /* procfs/1/comm without its newline */
        int irqbalance_pid; /* a process whose comm is irqbalance, 0: none */
        char *irqbalance_banned; /* IRQBALANCE_BANNED_CPULIST= of etc/default/irqbalance, unquoted */
        /* procfs/cmdline, up to "--" (what follows goes to init); the last value of each */
        bool cmdline;
        char *nohz_full, *isolcpus, *irqaffinity; /* as written, flags included; NULL: not set */
        char thp[16]; /* the selected mode of transparent_hugepage/enabled, "": unknown */
        /* sysfs/devices/system/cpu/cpu0/cpufreq; NULL: no cpufreq */
        char *cpufreq_driver;
        char *governors; /* scaling_available_governors, white space collapsed */
        int numa_balancing; /* procfs/sys/kernel/numa_balancing */
        /* sysfs/kernel/mm/ksm */
        int ksm_run, ksm_merge_across_nodes;
        int64_t ksm_pages_shared;
        bool pm_qos_latency; /* sysfs/devices/system/cpu/cpu0/power/pm_qos_resume_latency_us exists */
        char *cpuidle_driver; /* sysfs/devices/system/cpu/cpuidle/current_driver ("none" as read) */
        HookFile hook; /* etc/libvirt/hooks/qemu.d/kvmtuned */
        bool hook_legacy; /* etc/libvirt/hooks/qemu, the single-file hook, runs kvmtunectl */
        char *hook_path; /* the path of the one found (hook first), NULL: neither */
        char *control_socket; /* runtime_dir/control */
        bool control_exists; /* and it exists */

        /* What the daemon said when asked for its status: left unasked (daemon_answered false)
         * by hostfacts_read; kvmtunectl fills them in (doctor_read_status). */
        bool daemon_answered;
        int daemon_errno; /* why asking failed (EACCES: not root), 0: it answered or was not asked */
        int daemon_pid;
        bool libvirt_connected;
        char *libvirt_uri, *libvirt_version; /* NULL: not reported */
} HostFacts;

/* Reads every fact into *ret_facts (which hostfacts_done frees). A file that cannot be read
 * leaves its fact unknown, false or 0. Returns 0, or -ENOMEM. */
int hostfacts_read(const HostRoots *roots, HostFacts *ret_facts);

/* Whether word is one of the space-separated words of list. */
bool hostfacts_has_word(const char *list, const char *word);

/* The pid of the first process below procfs whose comm is irqbalance: 0 when none, -ENOMEM. */
int hostfacts_irqbalance_pid(const char *procfs);

/* Extracts the value of the last name=VALUE of a kernel command line (up to "--"; double
 * quotes allowed around a value) into *ret_value (malloc'd). Returns 1 when found, 0 when not
 * (*ret_value NULL), -ENOMEM. */
int hostfacts_cmdline_param(const char *cmdline, const char *name, char **ret_value);

void hostfacts_done(HostFacts *f);
