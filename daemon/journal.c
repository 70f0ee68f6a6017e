/* The journal of original host settings and hugepage reservations. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "json-field.h"
#include "render.h"
#include "kfile.h"
#include "macro.h"

/* The reservation entry o as a struct; false when it is malformed. */
static bool parse_reservation(json_object *o, JournalReservation *ret) {
        uint64_t node;
        ret->owner = json_field_string(o, "owner");
        return ret->owner && json_field_uint(o, "node", 0, &node) && node <= INT_MAX &&
               json_field_uint(o, "page_kib", 1, &ret->page_kib) && json_field_uint(o, "added", 0, &ret->added) &&
               (ret->node = (unsigned) node, true);
}

/* Keeps the well-formed entries of a journal read back (string originals, complete
 * reservations), so every later reader may rely on them. */
static void keep_valid_entries(json_object *settings, json_object *reservations) {
        json_object_object_foreach(settings, key, value) {
                if (!json_object_is_type(value, json_type_string))
                        json_object_object_del(settings, key);
        }
        JournalReservation unused;
        for (size_t i = json_object_array_length(reservations); i-- > 0;)
                if (!parse_reservation(json_object_array_get_idx(reservations, i), &unused))
                        json_object_array_del_idx(reservations, i, 1);
}

/* Moves an unparsable journal to PATH.unreadable (or .unreadable.N: never over an earlier one).
 * Returns 0 or negative errno. */
static int set_aside(const char *path) {
        for (int n = 0; n < 100; n++) {
                _cleanup_free_ char *aside = NULL;
                if ((n == 0 ? asprintf(&aside, "%s.unreadable", path) : asprintf(&aside, "%s.unreadable.%d", path, n)) <
                    0)
                        return -ENOMEM;
                if (link(path, aside) == 0)
                        return unlink(path) < 0 ? -errno : 0;
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

/* Reads the journal at j->path into j when it is from this boot; *ret_found says what it
 * found. Returns 0, or negative errno when the file exists but cannot be read. */
static int read_journal(Journal *j, JournalFound *ret_found) {
        *ret_found = JOURNAL_EMPTY;
        _cleanup_free_ char *text = NULL;
        int r = kfile_read("/", j->path, &text);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        _cleanup_(json_object_putp) json_object *root = json_tokener_parse(text);
        const char *boot = json_field_string(root, "boot_id");
        json_object *s = json_field(root, "settings", json_type_object),
                    *res = json_field(root, "reservations", json_type_array);
        if (!boot || !s || !res) {
                /* Not ours to drop: whoever reads the log can still restore from it by hand. */
                *ret_found = set_aside(j->path) == 0 ? JOURNAL_SET_ASIDE : JOURNAL_UNREADABLE;
                return 0;
        }
        if (strcmp(boot, j->boot_id) != 0)
                return 0; /* another boot: its kernel settings are gone */
        keep_valid_entries(s, res);
        j->settings = json_object_get(s);
        j->reservations = json_object_get(res);
        json_object *kept = json_field(root, "kept", json_type_boolean);
        if (json_object_object_length(s) > 0 || json_object_array_length(res) > 0)
                *ret_found = kept && json_object_get_boolean(kept) ? JOURNAL_KEPT : JOURNAL_RECOVERED;
        return 0;
}

int journal_open(const char *path, const char *boot_id, Journal **ret_journal, JournalFound *ret_found) {
        Journal *j = calloc(1, sizeof(Journal));
        if (!j)
                return -ENOMEM;
        j->path = strdup(path);
        j->boot_id = strdup(boot_id);
        if (!j->path || !j->boot_id) {
                journal_free(j);
                return -ENOMEM;
        }
        int r = read_journal(j, ret_found);
        if (r < 0) {
                journal_free(j);
                return r;
        }
        if (!j->settings)
                j->settings = json_object_new_object();
        if (!j->reservations)
                j->reservations = json_object_new_array();
        if (!j->settings || !j->reservations) {
                journal_free(j);
                return -ENOMEM;
        }
        *ret_journal = j;
        return 0;
}

void journal_free(Journal *j) {
        if (!j)
                return;
        json_object_put(j->settings);
        json_object_put(j->reservations);
        free(j->path);
        free(j->boot_id);
        free(j);
}

int journal_save(Journal *j) {
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        if (!root)
                return -ENOMEM;
        json_object_object_add(root, "boot_id", json_object_new_string(j->boot_id));
        json_object_object_add(root, "settings", json_object_get(j->settings));
        json_object_object_add(root, "reservations", json_object_get(j->reservations));
        if (j->kept)
                json_object_object_add(root, "kept", json_object_new_boolean(true));
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp", j->path) < 0)
                return -ENOMEM;
        FILE *f = fopen(tmp, "we");
        if (!f)
                return -errno;
        fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY), f);
        fputc('\n', f);
        int r = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, j->path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

const char *journal_original(const Journal *j, const char *key) {
        json_object *v = json_field(j->settings, key, json_type_string);
        return v ? json_object_get_string(v) : NULL;
}

/* Saves now, or at the release when held. */
static int journal_changed(Journal *j) {
        if (j->held) {
                j->dirty = true;
                return 0;
        }
        return journal_save(j);
}

void journal_hold(Journal *j) {
        j->held++;
}

int journal_release(Journal *j) {
        if (j->held > 0 && --j->held > 0)
                return 0;
        bool dirty = j->dirty;
        j->dirty = false;
        return dirty ? journal_save(j) : 0;
}

int journal_record(Journal *j, const char *key, const char *original) {
        if (journal_original(j, key))
                return 0;
        json_object_object_add(j->settings, key, json_object_new_string(original));
        int r = journal_changed(j);
        if (r < 0) /* the caller will not write: there is nothing to restore */
                json_object_object_del(j->settings, key);
        return r;
}

int journal_forget(Journal *j, const char *key) {
        if (!journal_original(j, key))
                return 0;
        json_object_object_del(j->settings, key);
        return journal_changed(j);
}

int journal_add_reservation(Journal *j, const char *owner, unsigned node, uint64_t page_kib, uint64_t added) {
        json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "owner", json_object_new_string(owner));
        json_object_object_add(o, "node", json_object_new_int((int) node));
        json_object_object_add(o, "page_kib", json_object_new_uint64(page_kib));
        json_object_object_add(o, "added", json_object_new_uint64(added));
        json_object_array_add(j->reservations, o);
        return journal_save(j);
}

int journal_drop_reservations(Journal *j, const char *owner) {
        bool changed = false;
        JournalReservation res;
        for (size_t i = 0; journal_next_reservation(j, owner, &i, &res);) {
                json_object_array_del_idx(j->reservations, i, 1);
                changed = true;
        }
        return changed ? journal_save(j) : 0;
}

size_t journal_n_reservations(const Journal *j) {
        return json_object_array_length(j->reservations);
}

bool journal_reservation(const Journal *j, size_t i, JournalReservation *ret) {
        return i < journal_n_reservations(j) && parse_reservation(json_object_array_get_idx(j->reservations, i), ret);
}

bool journal_next_reservation(const Journal *j, const char *owner, size_t *i, JournalReservation *ret) {
        for (; journal_reservation(j, *i, ret); (*i)++)
                if (strcmp(ret->owner, owner) == 0)
                        return true;
        return false;
}

uint64_t journal_added_pages(const Journal *j, unsigned node, uint64_t page_kib) {
        uint64_t sum = 0;
        JournalReservation res;
        for (size_t i = 0; journal_reservation(j, i, &res); i++)
                if (res.node == node && res.page_kib == page_kib)
                        sum += res.added;
        return sum;
}

int journal_keep(Journal *j) {
        j->kept = true;
        return journal_save(j);
}
