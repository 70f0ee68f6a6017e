/* `kvmtunectl doctor`: host facts, configuration and topology judged into findings, one line
 * each saying what to change. Pure: no I/O. */
#pragma once

#include <stddef.h>

#include <json-c/json.h>

#include "config.h"
#include "hostfacts.h"
#include "topology.h"

typedef enum DoctorLevel { DOCTOR_OK, DOCTOR_WARNING, DOCTOR_BLOCKER } DoctorLevel;

typedef struct DoctorFinding {
        DoctorLevel level;
        const char *check; /* static: "cpu-virtualization", "kvm-device", ... */
        char *message; /* one line, no trailing newline */
} DoctorFinding;

typedef struct DoctorReport {
        DoctorFinding *findings; /* in the order of the checks */
        size_t n;
} DoctorReport;

/* Appends one finding (message from fmt) to r. Returns 0 or -ENOMEM. */
int doctor_add(DoctorReport *r, DoctorLevel level, const char *check, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Runs every check on facts f under configuration c and topology t, appending to r: one finding
 * per check (the kernel command line one per parameter set, the configuration one per warning
 * of c). Returns 0, or -ENOMEM (r then holds what was found so far). */
int doctor_check(const HostFacts *f, const Config *c, const Topology *t, DoctorReport *r);

/* The host-tuning checks doctor_check runs (doctor-tuning.c): kernel command line, irqbalance,
 * THP, cpufreq, NUMA balancing, KSM, idle latency. Returns 0 or -ENOMEM. */
int doctor_check_tuning(const HostFacts *f, const Config *c, const Topology *t, DoctorReport *r);

/* Fills the daemon's part of f from the reply of its "status" command. Returns 0, or -ENOMEM. */
int doctor_read_status(json_object *status, HostFacts *f);

/* The worst level in r (DOCTOR_OK when empty). */
DoctorLevel doctor_worst(const DoctorReport *r);

/* The exit code of `kvmtunectl doctor`: 0 ready, 1 warnings, 2 blockers. */
int doctor_exit_code(const DoctorReport *r);

/* "ok", "warning", "blocker". */
const char *doctor_level_to_string(DoctorLevel level);

/* "ready", "warnings", "blockers": the report's worst level. */
const char *doctor_status(const DoctorReport *r);

/* One line per finding, "LEVEL   CHECK: MESSAGE" with outside text escaped, then a summary
 * line, into *ret_text (malloc'd). Returns 0 or -ENOMEM. */
int doctor_render_text(const DoctorReport *r, char **ret_text);

/* {"ready":bool,"status":"ready|warnings|blockers","findings":[{"check","level","message"}]}
 * into *ret_json; ready is true exactly when status is "ready" (exit code 0). Returns 0 or
 * -ENOMEM. */
int doctor_render_json(const DoctorReport *r, json_object **ret_json);

void doctor_report_clear(DoctorReport *r);
