/* The KSM actuator: KSM= sets /sys/kernel/mm/ksm/run at start and reload; while KSM runs for
 * kvmtuned (KSM=on) and strictly bound VMs run on a host of several nodes, merge_across_nodes is
 * 0 so merging never puts a VM's page on another node. That file changes only while nothing is
 * merged, and kvmtuned never unmerges: otherwise it says so once (doctor says how). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "actuator.h"
#include "actuators.h"
#include "kfile.h"
#include "macro.h"

#define KSM_RUN "kernel/mm/ksm/run"
#define KSM_MERGE "kernel/mm/ksm/merge_across_nodes"
#define KSM_SHARED "kernel/mm/ksm/pages_shared"
enum { SAID_MERGED_NOW = 1, SAID_MERGED_RESTORE };

bool ksm_is_key(const char *key) {
        return strcmp(key, KSM_RUN) == 0 || strcmp(key, KSM_MERGE) == 0;
}

static bool wants_local(const HostWant *want) {
        return want->config->host.ksm == KSM_ON && want->strict_running && want->topology->n_nodes > 1;
}

/* KSM= itself, only at start and reload like THP: an operator's change in between is theirs. */
static int ksm_run(ActuatorHost *h, const HostWant *want, char **ret_message) {
        KsmMode mode = want->config->host.ksm;
        char before[16] = "";
        int r = tuning_read(h->tuning, KSM_RUN, before, sizeof(before));
        if (r == -ENOENT && mode != KSM_KEEP)
                return actuator_error(ret_message, -EOPNOTSUPP, "this kernel has no KSM (no /sys/%s): left alone",
                                      KSM_RUN);
        if (mode == KSM_KEEP)
                r = tuning_restore(h->tuning, KSM_RUN, ret_message);
        else
                r = tuning_set(h->tuning, KSM_RUN, mode == KSM_ON ? "1" : "0", ret_message);
        char now[16] = "";
        (void) tuning_read(h->tuning, KSM_RUN, now, sizeof(now));
        if (r < 0 || strcmp(before, now) == 0)
                return r;
        return actuator_error(ret_message, 1, "KSM run %s (was %s)", now, before);
}

/* merge_across_nodes to value when nothing is merged; else said once (code said). Returns 1
 * when it wrote, 0 when it did not, -errno. */
static int ksm_merge(ActuatorHost *h, ActuatorMemo *memo, bool local, char **ret_message) {
        char now[16];
        if (tuning_read(h->tuning, KSM_MERGE, now, sizeof(now)) < 0)
                return 0; /* a kernel without NUMA: nothing to keep local */
        bool journaled = journal_original(h->tuning->journal, KSM_MERGE) != NULL;
        if (local ? strcmp(now, "0") == 0 : !journaled)
                return 0;
        uint64_t shared = 0;
        (void) kfile_read_u64(h->tuning->sysfs, KSM_SHARED, &shared);
        int code = local ? SAID_MERGED_NOW : SAID_MERGED_RESTORE;
        if (shared > 0) {
                if (memo->said == code)
                        return 0;
                memo->said = code;
                return actuator_error(ret_message, 0,
                                      local ? "KSM has %" PRIu64 " merged pages: merge_across_nodes stays 1 while "
                                              "strictly bound VMs run (it changes only when nothing is merged, and "
                                              "kvmtuned never unmerges; kvmtunectl doctor says how)"
                                            : "KSM has %" PRIu64 " merged pages: merge_across_nodes stays 0 until "
                                              "nothing is merged",
                                      shared);
        }
        memo->said = 0;
        int r = local ? tuning_set(h->tuning, KSM_MERGE, "0", ret_message)
                      : tuning_restore(h->tuning, KSM_MERGE, ret_message);
        return r < 0 ? r : 1;
}

/* merge_across_nodes first: once KSM runs it may merge pages, and then that file cannot change. */
static int ksm_apply(ActuatorHost *h, const HostWant *want, ActuatorMemo *memo, char **ret_message) {
        bool local = wants_local(want);
        int r = ksm_merge(h, memo, local, ret_message);
        if (r < 0)
                return r;
        _cleanup_free_ char *merge_message = *ret_message;
        *ret_message = NULL;
        int ran = 0;
        if (memo->stale && (ran = ksm_run(h, want, ret_message)) < 0)
                return ran;
        memo->stale = false; /* KSM= itself is set: not again before a reload */
        _cleanup_free_ char *run_message = *ret_message;
        *ret_message = merge_message ? TAKE_PTR(merge_message) : NULL;
        char merge[16] = "";
        (void) tuning_read(h->tuning, KSM_MERGE, merge, sizeof(merge));
        free(memo->summary);
        memo->summary = local && strcmp(merge, "0") == 0
                                ? strdup("KSM merges pages within a node only (merge_across_nodes 0)")
                                : NULL;
        if (r == 0) {
                if (!*ret_message)
                        *ret_message = TAKE_PTR(run_message);
                return ran;
        }
        free(*ret_message);
        return actuator_error(ret_message, 1, "%s%sKSM merge_across_nodes %s", run_message ? run_message : "",
                              run_message ? "; " : "", local ? "0 while strictly bound VMs run" : "back to its original");
}

static int ksm_verify(ActuatorHost *h, const HostWant *want, char **ret_message) {
        KsmMode mode = want->config->host.ksm;
        char now[16];
        if (mode != KSM_KEEP && tuning_read(h->tuning, KSM_RUN, now, sizeof(now)) == 0 &&
            strcmp(now, mode == KSM_ON ? "1" : "0") != 0)
                return actuator_error(ret_message, -ESTALE, "KSM run is %s, not %s", now, mode == KSM_ON ? "1" : "0");
        return 0;
}

static int ksm_undo(ActuatorHost *h, ActuatorMemo *memo, char **ret_message) {
        if (memo)
                actuator_memo_clear(memo);
        return tuning_restore_owned(h->tuning, ksm_is_key, NULL, ret_message);
}

const Actuator actuator_ksm = {
        .name = "ksm",
        .journal_namespace = "kernel/mm/ksm/{run,merge_across_nodes}",
        .owns_key = ksm_is_key,
        .apply = ksm_apply,
        .verify = ksm_verify,
        .undo = ksm_undo,
};
