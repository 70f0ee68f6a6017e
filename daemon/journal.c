/* The journal of original host settings and hugepage reservations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "render.h"
#include "kfile.h"
#include "macro.h"

static json_object *get(json_object *o, const char *key, json_type type) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
                return NULL;
        return v;
}

int journal_open(const char *path, const char *boot_id, Journal **ret_journal, bool *ret_recovered) {
        Journal *j = calloc(1, sizeof(Journal));
        if (!j)
                return -ENOMEM;
        j->path = strdup(path);
        j->boot_id = strdup(boot_id);
        if (!j->path || !j->boot_id) {
                journal_free(j);
                return -ENOMEM;
        }
        *ret_recovered = false;
        _cleanup_free_ char *text = NULL;
        json_object *root = kfile_read("/", path, &text) == 0 ? json_tokener_parse(text) : NULL;
        json_object *b = root ? get(root, "boot_id", json_type_string) : NULL;
        if (b && strcmp(json_object_get_string(b), boot_id) == 0) {
                json_object *s = get(root, "settings", json_type_object),
                            *r = get(root, "reservations", json_type_array);
                j->settings = s ? json_object_get(s) : NULL;
                j->reservations = r ? json_object_get(r) : NULL;
                *ret_recovered = (s && json_object_object_length(s) > 0) || (r && json_object_array_length(r) > 0);
        }
        json_object_put(root);
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
        json_object *v = get(j->settings, key, json_type_string);
        return v ? json_object_get_string(v) : NULL;
}

int journal_record(Journal *j, const char *key, const char *original) {
        if (journal_original(j, key))
                return 0;
        json_object_object_add(j->settings, key, json_object_new_string(original));
        return journal_save(j);
}

int journal_forget(Journal *j, const char *key) {
        if (!journal_original(j, key))
                return 0;
        json_object_object_del(j->settings, key);
        return journal_save(j);
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
        for (size_t i = json_object_array_length(j->reservations); i-- > 0;) {
                json_object *o = get(json_object_array_get_idx(j->reservations, i), "owner", json_type_string);
                if (o && strcmp(json_object_get_string(o), owner) == 0) {
                        json_object_array_del_idx(j->reservations, i, 1);
                        changed = true;
                }
        }
        return changed ? journal_save(j) : 0;
}

uint64_t journal_added_pages(const Journal *j, unsigned node, uint64_t page_kib) {
        uint64_t sum = 0;
        for (size_t i = 0; i < json_object_array_length(j->reservations); i++) {
                json_object *o = json_object_array_get_idx(j->reservations, i);
                json_object *n = get(o, "node", json_type_int), *k = get(o, "page_kib", json_type_int),
                            *a = get(o, "added", json_type_int);
                if (n && k && a && (unsigned) json_object_get_int(n) == node &&
                    (uint64_t) json_object_get_int64(k) == page_kib)
                        sum += (uint64_t) json_object_get_int64(a);
        }
        return sum;
}
