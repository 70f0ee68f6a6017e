/* Fuzzes daemon/journal.h: the journal of original settings read at start, saved and read again, changed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "journal.h"
#include "macro.h"

/* The boot the seed corpus's journals are from; anything else is another boot. */
#define BOOT_ID "3f2e1d0c-8b7a-4e69-9d5c-1a2b3c4d5e6f"

static char *path, *aside, *tmp;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        path = fuzz_write_file("journal.json", NULL, 0);
        assert_true(asprintf(&aside, "%s.unreadable", path) > 0);
        assert_true(asprintf(&tmp, "%s.tmp", path) > 0);
        return 0;
}

static size_t n_entries(const Journal *j) {
        return (size_t) json_object_object_length(j->settings) + journal_n_reservations(j);
}

/* journal.h: what a journal keeps of a file is well-formed, so every reader may rely on it. */
static void check_entries(const Journal *j) {
        json_object_object_foreach(j->settings, key, value) {
                (void) value;
                assert_true(journal_original(j, key));
        }
        for (size_t i = 0; i < journal_n_reservations(j); i++) {
                JournalReservation res;
                assert_true(journal_reservation(j, i, &res));
                assert_true(res.owner && res.page_kib >= 1);
                size_t at = 0;
                JournalReservation first;
                assert_true(journal_next_reservation(j, res.owner, &at, &first) && at <= i);
                (void) journal_added_pages(j, res.node, res.page_kib);
        }
}

/* Whether a and b are written alike (json-c keeps the text of numbers it parsed, so this holds
 * across a write and a read; NaN, which json-c also reads, is never equal to itself). */
static bool same_text(json_object *a, json_object *b) {
        _cleanup_free_ char *text = strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
        assert_true(text);
        return strcmp(text, json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN)) == 0;
}

static Journal *open_journal(JournalFound *ret_found) {
        Journal *j = NULL;
        int r = journal_open(path, BOOT_ID, &j, ret_found);
        assert_true(r == 0 || r == -EFBIG);
        if (r < 0)
                return NULL;
        assert_true(j && j->settings && j->reservations);
        assert_true(*ret_found <= JOURNAL_UNREADABLE);
        /* Recovered or kept when, and only when, entries of this boot are left. */
        assert_true((*ret_found == JOURNAL_RECOVERED || *ret_found == JOURNAL_KEPT) == (n_entries(j) > 0));
        if (*ret_found == JOURNAL_SET_ASIDE)
                assert_true(access(path, F_OK) < 0 && access(aside, F_OK) == 0);
        check_entries(j);
        return j;
}

/* What the daemon does with a journal it opened: saves it, and records and drops entries. */
static void use_journal(Journal *j) {
        /* Saved and read again, it holds the same entries (a clean stop's "kept" mark is the stop's
         * own: a save without journal_keep() drops it). */
        assert_true(journal_save(j) == 0);
        JournalFound found_again;
        _cleanup_(journal_freep) Journal *again = open_journal(&found_again);
        assert_true(again);
        assert_true(same_text(j->settings, again->settings));
        assert_true(same_text(j->reservations, again->reservations));
        assert_true(found_again == (n_entries(j) > 0 ? JOURNAL_RECOVERED : JOURNAL_EMPTY));

        /* The changes an actuator makes, on top of what was read. */
        const char *key = "kernel/mm/transparent_hugepage/enabled";
        bool had = journal_original(j, key) != NULL;
        uint64_t before = journal_added_pages(j, 1, 2048);
        assert_true(journal_record(j, key, "always [madvise] never") == 0);
        assert_true(journal_original(j, key));
        assert_true(journal_add_reservation(j, "fuzz-owner", 1, 2048, 3) == 0);
        assert_true(journal_added_pages(j, 1, 2048) == before + 3);
        assert_true(journal_drop_reservations(j, "fuzz-owner") == 0);
        JournalReservation res;
        size_t at = 0;
        assert_true(!journal_next_reservation(j, "fuzz-owner", &at, &res));
        if (!had) {
                assert_true(journal_forget(j, key) == 0);
                assert_true(!journal_original(j, key));
        }
        check_entries(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        free(fuzz_write_file("journal.json", data, size));
        JournalFound found;
        Journal *j = open_journal(&found);
        if (j)
                use_journal(j);
        journal_free(j);
        unlink(path);
        unlink(aside);
        unlink(tmp);
        return 0;
}
