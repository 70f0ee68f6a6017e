/* Reading small kernel files (sysfs, procfs) below a root prefix, so fixture trees can stand in. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Joins base and rel ("/sys" + "devices/system/node") into *ret_path (malloc'd).
 * Returns 0, or -ENOMEM. */
int kfile_path(const char *base, const char *rel, char **ret_path);

/* Reads the whole of base/rel (at most 1 MiB) into *ret_text, NUL-terminated.
 * Returns 0, -errno from open/read, or -EFBIG. */
int kfile_read(const char *base, const char *rel, char **ret_text);

/* Reads base/rel, which must hold one unsigned decimal number (trailing newline allowed).
 * Returns 0, -errno from reading, or -EINVAL if the content is not such a number. */
int kfile_read_u64(const char *base, const char *rel, uint64_t *ret_value);

/* Parses one unsigned decimal number, surrounding white space allowed.
 * Returns 0, or -EINVAL / -ERANGE. */
int kfile_parse_u64(const char *s, uint64_t *ret_value);

/* Extracts the selected word of a sysfs choice list ("always [madvise] never" -> "madvise")
 * into buf. A plain value (no brackets) is returned whole, trimmed. Returns 0, or -EINVAL
 * when nothing is selected or the word does not fit. */
int kfile_parse_choice(const char *s, char *buf, size_t len);
