/* `kvmtunectl doctor`: the platform checks (virtualization, IOMMU, 1 GiB pages, cgroups, systemd,
 * the libvirt hook, the daemon, the policy) and the report as text and JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"
#include "escape.h"
#include "json-field.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

#define HOOK_PATH "/etc/libvirt/hooks/qemu.d/kvmtuned"
#define GIB_KIB (1024 * 1024)

int doctor_add(DoctorReport *r, DoctorLevel level, const char *check, const char *fmt, ...) {
        char *message = NULL;
        va_list ap;
        va_start(ap, fmt);
        int k = vasprintf(&message, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        DoctorFinding *n = realloc(r->findings, (r->n + 1) * sizeof(DoctorFinding));
        if (!n) {
                free(message);
                return -ENOMEM;
        }
        r->findings = n;
        r->findings[r->n++] = (DoctorFinding){ .level = level, .check = check, .message = message };
        return 0;
}

static bool is_intel(const HostFacts *f) {
        return f->vmx || (f->cpu_vendor && strcmp(f->cpu_vendor, "GenuineIntel") == 0);
}

static bool is_amd(const HostFacts *f) {
        return f->svm || (f->cpu_vendor && strcmp(f->cpu_vendor, "AuthenticAMD") == 0);
}

static int check_virtualization(const HostFacts *f, DoctorReport *r) {
        static const char check[] = "cpu-virtualization";
        int k;
        if (!f->cpuinfo) /* no x86 flags line: arm64 and POWER say it otherwise; /dev/kvm below decides */
                k = doctor_add(r, DOCTOR_OK, check,
                               "no x86 CPU flags in cpuinfo (another architecture): the kvm-device check says "
                               "whether KVM works");
        else if (f->vmx || f->svm)
                k = doctor_add(r, DOCTOR_OK, check, "the CPU offers %s", f->vmx ? "VT-x (vmx)" : "AMD-V (svm)");
        else
                k = doctor_add(r, DOCTOR_BLOCKER, check,
                               "the CPU offers no hardware virtualization (no vmx or svm flag in cpuinfo): enable "
                               "VT-x / AMD-V (SVM) in the firmware setup; in a VM, enable nested virtualization on "
                               "its host");
        if (k < 0)
                return k;
        static const char kvm[] = "kvm-device";
        if (f->dev_kvm)
                return doctor_add(r, DOCTOR_OK, kvm, "/dev/kvm is there");
        return doctor_add(r, DOCTOR_BLOCKER, kvm,
                          "/dev/kvm is missing: load KVM (%s) once the CPU offers virtualization; without it "
                          "guests run under TCG emulation, many times slower",
                          is_intel(f) ? "modprobe kvm_intel"
                          : is_amd(f) ? "modprobe kvm_amd"
                                      : "modprobe kvm_intel or kvm_amd");
}

static int check_iommu(const HostFacts *f, DoctorReport *r) {
        if (f->iommu_groups > 0)
                return doctor_add(r, DOCTOR_OK, "iommu", "IOMMU on: %d group%s in /sys/kernel/iommu_groups",
                                  f->iommu_groups, f->iommu_groups == 1 ? "" : "s");
        return doctor_add(r, DOCTOR_WARNING, "iommu",
                          "no IOMMU groups in /sys/kernel/iommu_groups: PCI passthrough (VFIO) needs the IOMMU: "
                          "enable %s in the firmware setup and add %s to the kernel command line; ignore this if no "
                          "VM passes a device through",
                          is_amd(f)     ? "AMD-Vi"
                          : is_intel(f) ? "VT-d"
                                        : "VT-d / AMD-Vi",
                          is_amd(f)     ? "amd_iommu=on iommu=pt"
                          : is_intel(f) ? "intel_iommu=on iommu=pt"
                                        : "intel_iommu=on (Intel) or amd_iommu=on (AMD)");
}

/* The names of the classes with MemPageSize=1G, comma-separated, in *ret_names; NULL: none. */
static int classes_1g(const Config *c, char **ret_names) {
        char *names = NULL;
        for (size_t i = 0; i < c->n_classes; i++) {
                if (c->classes[i].mem_page_kib != GIB_KIB)
                        continue;
                char *n = NULL;
                int k = asprintf(&n, "%s%s%s", names ? names : "", names ? ", " : "", c->classes[i].name);
                free(names);
                if (k < 0)
                        return -ENOMEM;
                names = n;
        }
        *ret_names = names;
        return 0;
}

static int check_hugepages_1g(const HostFacts *f, const Config *c, DoctorReport *r) {
        static const char check[] = "hugepages-1g";
        _cleanup_free_ char *names = NULL;
        if (classes_1g(c, &names) < 0)
                return -ENOMEM;
        if (!names)
                return doctor_add(r, DOCTOR_OK, check, "no class asks for MemPageSize=1G");
        if (!f->hugepages_1g)
                return doctor_add(r, DOCTOR_BLOCKER, check,
                                  "class %s asks for MemPageSize=1G, but the kernel offers no 1 GiB pages (no "
                                  "/sys/kernel/mm/hugepages/hugepages-1048576kB): %s, or set MemPageSize=2M there",
                                  names,
                                  !f->cpuinfo  ? "check that the CPU has the pdpe1gb flag"
                                  : f->pdpe1gb ? "add hugepagesz=1G to the kernel command line"
                                               : "the CPU lacks pdpe1gb (in a VM: give it the host's CPU model, "
                                                 "<cpu mode='host-passthrough'>)");
        if (f->hugepages_1g_nr <= 0)
                return doctor_add(r, DOCTOR_WARNING, check,
                                  "class %s asks for MemPageSize=1G and no 1 GiB page is reserved: reserving them "
                                  "after boot often fails (memory is fragmented); add default_hugepagesz=1G "
                                  "hugepagesz=1G hugepages=N to the kernel command line, N the GiB those VMs need",
                                  names);
        return doctor_add(r, DOCTOR_OK, check, "%" PRId64 " 1 GiB pages reserved for class %s (MemPageSize=1G)",
                          f->hugepages_1g_nr, names);
}

static int check_cgroups(const HostFacts *f, DoctorReport *r) {
        static const char check[] = "cgroup-cpuset";
        if (f->cgroup2_cpuset)
                return doctor_add(r, DOCTOR_OK, check, "cgroup v2 with the cpuset controller");
        if (f->cgroup1_cpuset)
                return doctor_add(r, DOCTOR_OK, check, "cgroup v1 cpuset hierarchy at /sys/fs/cgroup/cpuset");
        if (f->cgroup2)
                return doctor_add(r, DOCTOR_BLOCKER, check,
                                  "cgroup v2 without the cpuset controller (cgroup.controllers lacks cpuset) and no "
                                  "v1 cpuset: libvirt cannot confine VMs and kvmtuned cannot isolate the host; boot a "
                                  "kernel with CONFIG_CPUSETS, and unmount a v1 hierarchy that holds cpuset");
        return doctor_add(r, DOCTOR_BLOCKER, check,
                          "no cpuset cgroup (no cgroup v2 at /sys/fs/cgroup, no v1 cpuset hierarchy): mount cgroup v2 "
                          "there (mount -t cgroup2 none /sys/fs/cgroup) or boot with systemd");
}

static int check_systemd(const HostFacts *f, const Config *c, DoctorReport *r) {
        const char *pid1 = f->pid1_comm ? f->pid1_comm : "unknown";
        if (f->pid1_comm && strcmp(f->pid1_comm, "systemd") == 0)
                return doctor_add(r, DOCTOR_OK, "systemd",
                                  "PID 1 is systemd: host isolation sets AllowedCPUs= of system.slice, user.slice "
                                  "and init.scope");
        if (c->host.isolate_host == ISOLATE_NO)
                return doctor_add(r, DOCTOR_OK, "systemd", "PID 1 is %s, not systemd; IsolateHost=no isolates nothing",
                                  pid1);
        return doctor_add(r, DOCTOR_WARNING, "systemd",
                          "PID 1 is %s, not systemd: IsolateHost=%s falls back to a cpuset group of its own that "
                          "holds only processes of the root cgroup (services in cgroups of their own keep the "
                          "dedicated CPUs); run the host under systemd, or confine those services yourself",
                          pid1, c->host.isolate_host == ISOLATE_ALWAYS ? "always" : "when-dedicated");
}

static int check_hook(const HostFacts *f, DoctorReport *r) {
        static const char check[] = "libvirt-hook";
        switch (f->hook) {
        case HOOK_EXECUTABLE:
                return doctor_add(r, DOCTOR_OK, check, "%s is installed (libvirtd reads hooks when it starts)",
                                  f->hook_path);
        case HOOK_NOT_EXECUTABLE:
                return doctor_add(r, DOCTOR_WARNING, check, "%s is not executable: chmod 0755 it and restart libvirtd",
                                  f->hook_path);
        case HOOK_ABSENT:
                break;
        }
        if (f->hook_legacy)
                return doctor_add(r, DOCTOR_OK, check, "%s runs kvmtunectl", f->hook_path);
        return doctor_add(r, DOCTOR_WARNING, check,
                          "no libvirt hook: install contrib/libvirt/kvmtuned as " HOOK_PATH " (mode 0755) and "
                          "restart libvirtd; without it kvmtuned cannot refuse a VM that does not fit or reserve its "
                          "hugepages before it starts");
}

static int check_daemon(const HostFacts *f, DoctorReport *r) {
        static const char check[] = "daemon";
        const char *socket = f->control_socket ? f->control_socket : "?";
        if (!f->control_exists)
                return doctor_add(r, DOCTOR_WARNING, check,
                                  "kvmtuned is not running (no %s): start it (systemctl start kvmtuned); until then "
                                  "VMs start unplaced",
                                  socket);
        if (!f->daemon_answered && (f->daemon_errno == EACCES || f->daemon_errno == EPERM))
                return doctor_add(r, DOCTOR_WARNING, check,
                                  "kvmtuned's control socket %s is there but this user may not ask it: run doctor "
                                  "as root to know whether the daemon answers",
                                  socket);
        if (!f->daemon_answered)
                return doctor_add(r, DOCTOR_WARNING, check,
                                  "kvmtuned does not answer on %s: see its log (journalctl -u kvmtuned) and restart "
                                  "it",
                                  socket);
        const char *uri = f->libvirt_uri ? f->libvirt_uri : "libvirt";
        if (!f->libvirt_connected)
                return doctor_add(r, DOCTOR_WARNING, check,
                                  "kvmtuned (pid %d) answers but is not connected to %s: start libvirtd (or virtqemud)",
                                  f->daemon_pid, uri);
        return doctor_add(r, DOCTOR_OK, check, "kvmtuned (pid %d) answers and is connected to %s%s%s", f->daemon_pid,
                          uri, f->libvirt_version ? ", libvirt " : "", f->libvirt_version ? f->libvirt_version : "");
}

static int check_policy(const Config *c, DoctorReport *r) {
        for (size_t i = 0; i < c->n_warnings; i++) {
                const ConfigError *w = &c->warnings[i];
                int k = w->file ? doctor_add(r, DOCTOR_WARNING, "policy", "%s:%u: %s", w->file, w->line, w->message)
                                : doctor_add(r, DOCTOR_WARNING, "policy", "%s", w->message);
                if (k < 0)
                        return k;
        }
        if (c->n_warnings > 0)
                return 0;
        return doctor_add(r, DOCTOR_OK, "policy", "%zu classes, no warnings for this host", c->n_classes);
}

int doctor_check(const HostFacts *f, const Config *c, const Topology *t, DoctorReport *r) {
        if (check_virtualization(f, r) < 0 || check_iommu(f, r) < 0 || check_hugepages_1g(f, c, r) < 0 ||
            check_cgroups(f, r) < 0 || check_systemd(f, c, r) < 0 || doctor_check_tuning(f, c, t, r) < 0 ||
            check_hook(f, r) < 0 || check_daemon(f, r) < 0 || check_policy(c, r) < 0)
                return -ENOMEM;
        return 0;
}

static int dup_field(json_object *o, const char *key, char **ret) {
        const char *s = json_field_string(o, key);
        free(*ret);
        *ret = s ? strdup(s) : NULL;
        return s && !*ret ? -ENOMEM : 0;
}

int doctor_read_status(json_object *status, HostFacts *f) {
        json_object *daemon = json_field(status, "daemon", json_type_object),
                    *lv = json_field(status, "libvirt", json_type_object),
                    *pid = json_field(daemon, "pid", json_type_int),
                    *connected = json_field(lv, "connected", json_type_boolean);
        f->daemon_answered = daemon != NULL;
        f->daemon_pid = pid ? json_object_get_int(pid) : 0;
        f->libvirt_connected = connected && json_object_get_boolean(connected);
        if (dup_field(lv, "uri", &f->libvirt_uri) < 0 || dup_field(lv, "version", &f->libvirt_version) < 0)
                return -ENOMEM;
        return 0;
}

DoctorLevel doctor_worst(const DoctorReport *r) {
        DoctorLevel worst = DOCTOR_OK;
        for (size_t i = 0; i < r->n; i++)
                if (r->findings[i].level > worst)
                        worst = r->findings[i].level;
        return worst;
}

int doctor_exit_code(const DoctorReport *r) {
        switch (doctor_worst(r)) {
        case DOCTOR_OK:
                return 0;
        case DOCTOR_WARNING:
                return 1;
        case DOCTOR_BLOCKER:
                break;
        }
        return 2;
}

const char *doctor_level_to_string(DoctorLevel level) {
        static const char *const names[] = { "ok", "warning", "blocker" };
        return names[level];
}

const char *doctor_status(const DoctorReport *r) {
        static const char *const names[] = { "ready", "warnings", "blockers" };
        return names[doctor_worst(r)];
}

int doctor_render_text(const DoctorReport *r, char **ret_text) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0, count[3] = { 0 };
        _cleanup_fclose_ FILE *f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < r->n; i++) {
                const DoctorFinding *d = &r->findings[i];
                count[d->level]++;
                fprintf(f, "%-8s %s: ", doctor_level_to_string(d->level), d->check);
                escape_fputs(d->message, f);
                fputc('\n', f);
        }
        fprintf(f, "status: %s (%zu ok, %zu warnings, %zu blockers)\n", doctor_status(r), count[DOCTOR_OK],
                count[DOCTOR_WARNING], count[DOCTOR_BLOCKER]);
        if (fclose(TAKE_PTR(f)) != 0 || !text)
                return -ENOMEM;
        *ret_text = TAKE_PTR(text);
        return 0;
}

int doctor_render_json(const DoctorReport *r, json_object **ret_json) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *findings = json_object_new_array();
        if (!o || !findings ||
            json_object_object_add(o, "ready", json_object_new_boolean(doctor_worst(r) == DOCTOR_OK)) < 0 ||
            json_object_object_add(o, "status", json_object_new_string(doctor_status(r))) < 0) {
                json_object_put(findings);
                return -ENOMEM;
        }
        json_object_object_add(o, "findings", findings);
        for (size_t i = 0; i < r->n; i++) {
                json_object *e = json_object_new_object();
                if (!e || json_object_array_add(findings, e) < 0) {
                        json_object_put(e);
                        return -ENOMEM;
                }
                json_object_object_add(e, "check", json_object_new_string(r->findings[i].check));
                json_object_object_add(e, "level",
                                       json_object_new_string(doctor_level_to_string(r->findings[i].level)));
                json_object_object_add(e, "message", json_object_new_string(r->findings[i].message));
        }
        *ret_json = TAKE_PTR(o);
        return 0;
}

void doctor_report_clear(DoctorReport *r) {
        for (size_t i = 0; i < r->n; i++)
                free(r->findings[i].message);
        free(r->findings);
        *r = (DoctorReport){ 0 };
}
