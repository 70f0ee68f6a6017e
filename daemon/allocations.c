/* The allocations file: written once per loop turn, read back and distrusted at start. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crash.h"
#include "json-field.h"
#include "kfile.h"
#include "macro.h"
#include "manager-internal.h"
#include "persist.h"
#include "render.h"

#define ALLOCATIONS_VERSION 1 /* the allocations file's format; a file without one is version 1 */

#define ALLOCATIONS_COALESCE_USEC (5 * 1000)

/* Writes what is placed to runtime_dir/allocations.json (write, fsync, rename), so a restarted
 * kvmtuned adopts exactly this instead of planning again. */
static void allocations_write_file(Manager *m) {
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        json_object *list = json_object_new_array();
        if (!root || !list) {
                json_object_put(list);
                return;
        }
        json_object_object_add(root, "version", json_object_new_int(ALLOCATIONS_VERSION));
        json_object_object_add(root, "domains", list);
        for (ManagedDomain *d = m->domains; d; d = d->next) {
                const Placement *pl = planner_find(m->planner, d->name);
                json_object *o = pl && pl->admitted ? persist_placement(pl, d->uuid, m->topology) : NULL;
                if (!o && (d->applied || d->pinning) && (o = json_object_new_object())) {
                        /* Refused or failed, floated by kvmtuned: only which pins are its own. */
                        json_object_object_add(o, "name", json_object_new_string(d->name));
                        json_object_object_add(o, "uuid", json_object_new_string(d->uuid));
                        json_object_object_add(o, "floating", json_object_new_boolean(true));
                }
                /* A hook admission whose start has not come: a restart must wait for it too. */
                if (o && domains_awaiting_start(m, d))
                        json_object_object_add(o, "awaiting_start", json_object_new_boolean(true));
                if (o && d->applied) /* what kvmtuned pinned, not what the domain's XML did */
                        json_object_object_add(o, "applied", persist_placement(d->applied, NULL, m->topology));
                if (o && d->pinning) /* its live pins may be kvmtuned's, half made: written first */
                        json_object_object_add(o, "applying", json_object_new_boolean(true));
                if (o)
                        json_object_array_add(list, o);
        }
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp", m->allocations_path) < 0)
                return;
        FILE *f = fopen(tmp, "we");
        if (!f) {
                log_emit(&m->log, LOG_WARNING, LOG_NO_FIELDS, "cannot write %s: %m", tmp);
                return;
        }
        fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), f);
        fputc('\n', f);
        /* A full or read-only disk: the last complete file stays, and the next change tries again. */
        bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
        if (fclose(f) != 0 || !ok || rename(tmp, m->allocations_path) < 0) {
                log_emit(&m->log, LOG_WARNING, LOG_NO_FIELDS, "cannot write %s: %m", m->allocations_path);
                unlink(tmp);
                return;
        }
        crash_point("saved");
}

/* The file, then the pin jobs it announces (whether it could be written or not: a full /run must
 * not stop pinning). */
static void allocations_write(Manager *m) {
        allocations_write_file(m);
        apply_start_queued(m);
}

static int allocations_on_save(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        allocations_write(userdata);
        return 0;
}

/* The allocations file is written once the changes of a burst are done (what the workers read
 * for a start of N domains comes back over a few turns of the loop): a few times, not N times
 * (N fsyncs of up to N entries). Pin jobs wait for it, a few milliseconds. */
void allocations_save(Manager *m) {
        int enabled = SD_EVENT_OFF;
        if (m->save_source && sd_event_source_get_enabled(m->save_source, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                return; /* one is due already */
        if (!m->save_source && sd_event_add_time(m->event, &m->save_source, CLOCK_MONOTONIC, 0, 0,
                                                 allocations_on_save, m) < 0) {
                allocations_write(m);
                return;
        }
        sd_event_source_set_time(m->save_source, manager_now_usec() + ALLOCATIONS_COALESCE_USEC);
        sd_event_source_set_enabled(m->save_source, SD_EVENT_ONESHOT);
}

/* Writes a save still pending now (before a reply that depends on it, or at exit). */
void allocations_flush(Manager *m) {
        int enabled = SD_EVENT_OFF;
        if (m->save_source && sd_event_source_get_enabled(m->save_source, &enabled) >= 0 && enabled != SD_EVENT_OFF) {
                sd_event_source_set_enabled(m->save_source, SD_EVENT_OFF);
                allocations_write(m);
        }
}

void allocations_load(Manager *m) {
        _cleanup_free_ char *text = NULL;
        if (kfile_read("/", m->allocations_path, &text) < 0)
                return;
        json_object *root = json_tokener_parse(text), *list = json_field(root, "domains", json_type_array);
        json_object *version = json_field(root, "version", json_type_int);
        if (!list || (version && json_object_get_int(version) != ALLOCATIONS_VERSION)) {
                /* Set aside, not overwritten: a newer kvmtuned's file is for it to read again. */
                _cleanup_free_ char *aside = NULL;
                bool moved = asprintf(&aside, "%s.unreadable", m->allocations_path) >= 0 &&
                             rename(m->allocations_path, aside) == 0;
                log_emit(&m->log, LOG_WARNING, LOG_NO_FIELDS, "%s is %s: %s; every running domain is placed again",
                         m->allocations_path, list ? "of an unknown format version" : "malformed",
                         moved ? aside : "left where it is");
                json_object_put(root);
                return;
        }
        m->saved = json_object_get(list);
        json_object_put(root);
}

/* Whether class name still has the settings a saved placement was made under (saved: its
 * "class_settings"; files written before they were saved carry none: the name decides). */
static bool allocations_class_unchanged(Manager *m, const char *name, json_object *saved) {
        const PolicyClass *now = config_find_class(m->config, name);
        if (!now || !saved)
                return now != NULL;
        _cleanup_free_ char *settings = config_class_settings(now);
        return settings && strcmp(settings, json_object_get_string(saved)) == 0;
}

/* Restores entry i of the allocations file: booked when it is valid and fits the policy; else
 * logged, and kept unbooked when it says which pins kvmtuned applied (its domain is placed again
 * if it runs, its own pins not mistaken for the domain's). */
static void allocations_restore_entry(Manager *m, size_t i, json_object *entry) {
        _cleanup_(placement_freep) Placement *spec = NULL, *applied = NULL;
        _cleanup_free_ char *cls = NULL, *uuid = NULL;
        json_object *o = json_field(entry, "applied", json_type_object), *id = json_field(entry, "uuid", json_type_string);
        if (o && persist_parse(o, m->topology, &applied, NULL, NULL) < 0)
                applied = NULL;
        json_object *name = json_field(entry, "name", json_type_string);
        if (name && manager_find(m, json_object_get_string(name))) { /* the file names it twice */
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .action = "adopt", .vcpu = -1 },
                         "entry %zu of the allocations file repeats an earlier one: dropped", i);
                return;
        }
        /* Killed while it pinned the domain: its live pins are kvmtuned's, whichever of the old and
         * new ones they are, and none of them are compared with what it applied before. */
        json_object *applying = json_field(entry, "applying", json_type_boolean);
        bool midway = applying && json_object_get_boolean(applying);
        const char *known = applied ? applied->name : name ? json_object_get_string(name) : NULL;
        if (midway) {
                placement_free(applied);
                applied = NULL;
        }
        json_object *floating = json_field(entry, "floating", json_type_boolean);
        if (floating && json_object_get_boolean(floating) && (applied || midway) && known && id) {
                ManagedDomain *d = manager_new_record(m, known, json_object_get_string(id), 0);
                if (d) { /* unbooked: placed again if it runs, its float pins known as kvmtuned's */
                        manager_transition(m, d, EVENT_RESTORE, NULL);
                        d->applied = TAKE_PTR(applied);
                }
                return;
        }
        bool readable = persist_parse(entry, m->topology, &spec, &cls, &uuid) == 0 && uuid;
        /* Dedicated CPUs outside today's pool, a class that is gone or changed its settings, or a
         * placement this planner could not have made: placed afresh. */
        const Placement *pl;
        bool fits = readable &&
                    (spec->adopted || hwloc_bitmap_isincluded(spec->held, m->config->host.dedicated)) &&
                    allocations_class_unchanged(m, cls, json_field(entry, "class_settings", json_type_string)) &&
                    planner_restore(m->planner, spec, cls, &pl) == 0;
        if (!readable)
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .action = "adopt", .vcpu = -1 },
                         "entry %zu of the allocations file is not valid: dropped, its domain is placed again if it "
                         "runs",
                         i);
        else if (!fits)
                log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = spec->name, .action = "adopt", .vcpu = -1 },
                         "%s: the previous run's placement (class %s) does not fit the current policy or is not "
                         "valid: it is placed again if it runs",
                         spec->name, cls);
        if (!fits && (!(applied || midway) || !known || !id))
                return;
        ManagedDomain *d = manager_new_record(m, fits ? spec->name : known, json_object_get_string(id), 0);
        if (!d) {
                if (fits)
                        planner_release(m->planner, spec->name);
                return;
        }
        manager_transition(m, d, EVENT_RESTORE, NULL);
        d->applied = TAKE_PTR(applied);
        json_object *waiting = json_field(entry, "awaiting_start", json_type_boolean);
        bool unstarted = waiting && json_object_get_boolean(waiting);
        if (fits) /* it ran before this run started, unless its start is still to come */
                (void) planner_memory_use(m->planner, spec->name, unstarted ? MEMORY_USE_NONE : MEMORY_USE_ALL, NULL);
        if (fits && unstarted) {
                /* Admitted before the restart, its start not yet seen: it waits again, from now. */
                manager_transition(m, d, EVENT_ADMIT, ADMITTED_NOTE);
                d->admit_usec = manager_now_usec();
        }
}

/* The previous run's placements are booked before anything else, so that neither a hook
 * admission before libvirt answers nor a domain started meanwhile takes their CPUs. Each stays
 * RESTORED until the first reconcile confirms it against its running domain or releases it. */
void allocations_restore(Manager *m) {
        for (size_t i = 0; m->saved && i < json_object_array_length(m->saved); i++)
                allocations_restore_entry(m, i, json_object_array_get_idx(m->saved, i));
        json_object_put(m->saved);
        m->saved = NULL;
        planner_refresh_shared(m->planner); /* the saved floating sets may predate a change of the pools */
        domains_schedule_admission_expiry(m);
}
