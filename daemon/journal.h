/* The journal of original host settings: every sysfs/procfs value kvmtuned changed, with the
 * value it had before, and the hugepages it reserved, fsync'd and renamed into place before
 * each write it describes, so a crash or SIGKILL can always be undone. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

typedef struct Journal {
        char *path;
        char *boot_id;
        json_object *settings; /* {"relative/path": "original value"} */
        json_object *reservations; /* [{"owner", "node", "page_kib", "added"}] */
        bool kept; /* written by a clean stop with RestoreOnExit=no: the settings stay on purpose */
        unsigned held; /* journal_hold() depth: record and forget save only at the last release */
        bool dirty; /* changed while held */
} Journal;

typedef enum JournalFound {
        JOURNAL_EMPTY, /* no journal, an empty one, or one from another boot */
        JOURNAL_RECOVERED, /* entries of this boot: a previous run did not finish */
        JOURNAL_KEPT, /* entries of this boot a clean stop kept on purpose (RestoreOnExit=no) */
        JOURNAL_SET_ASIDE, /* unreadable; renamed to PATH.unreadable */
        JOURNAL_UNREADABLE, /* unreadable, and it could not be renamed */
} JournalFound;

/* Opens the journal at path for this boot. Entries written during the same boot are kept
 * (malformed ones dropped); entries from another boot describe a kernel that is gone and are
 * dropped. *ret_found says which. Returns 0 or negative errno. */
int journal_open(const char *path, const char *boot_id, Journal **ret_journal, JournalFound *ret_found);

void journal_free(Journal *j);

/* Writes the journal (write, fsync, rename). Returns 0 or negative errno. */
int journal_save(Journal *j);

/* The recorded original of a setting, or NULL. */
const char *journal_original(const Journal *j, const char *key);

/* Records key's original value unless one is recorded already, and saves. Returns 0 or -errno. */
int journal_record(Journal *j, const char *key, const char *original);

/* Marks the entries as kept on purpose by a clean stop, and saves. Returns 0 or -errno. */
int journal_keep(Journal *j);

/* Drops key (its original is back in place) and saves. */
int journal_forget(Journal *j, const char *key);

/* Batches: between journal_hold and journal_release, journal_record and journal_forget change
 * the journal in memory only (and return 0); the release saves once what changed. A caller
 * writes no file whose original is not saved yet: it releases before writing. Returns 0 or
 * -errno of the save (journal_hold cannot fail). */
void journal_hold(Journal *j);
int journal_release(Journal *j);

/* Hugepage reservations: added pages of a (node, page size) pool held for owner. Both return
 * 0 or negative errno (the journal could not be saved). */
int journal_add_reservation(Journal *j, const char *owner, unsigned node, uint64_t page_kib, uint64_t added);
int journal_drop_reservations(Journal *j, const char *owner);

typedef struct JournalReservation {
        const char *owner; /* points into the journal: valid until it changes */
        unsigned node;
        uint64_t page_kib;
        uint64_t added; /* pages kvmtuned added to the pool for owner (0: the free ones sufficed) */
} JournalReservation;

size_t journal_n_reservations(const Journal *j);

/* The i-th reservation in *ret. Returns false past the end. */
bool journal_reservation(const Journal *j, size_t i, JournalReservation *ret);

/* The first reservation of owner at index *i or later: *i moves to it. Returns false when
 * there is none. */
bool journal_next_reservation(const Journal *j, const char *owner, size_t *i, JournalReservation *ret);

/* Pages kvmtuned added to the (node, page size) pool, summed over owners. */
uint64_t journal_added_pages(const Journal *j, unsigned node, uint64_t page_kib);

static inline void journal_freep(Journal **j) {
        if (*j)
                journal_free(*j);
}
