/* Text from outside (domain names, XML values) made safe for one-line output: the journal, the
 * hook's answer to libvirt, kvmtunectl's terminal. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

/* Whether s holds a byte escape_text() would change. */
bool escape_needed(const char *s);

/* Writes s into buf (of size > 0, always terminated, cut short when full) with control
 * characters and DEL as \n, \r, \t or \xNN and a backslash doubled, so nothing from outside can
 * start a line or drive a terminal; UTF-8 stays as it is. Returns buf. */
char *escape_into(char *buf, size_t size, const char *s);

/* Writes s to f escaped, whatever its length. */
void escape_fputs(const char *s, FILE *f);

/* The same as a malloc'd string; NULL on ENOMEM. */
char *escape_text(const char *s);

/* Escapes every string in o, recursively, in place (for human-readable printing of a reply).
 * Returns 0 or -ENOMEM. */
int escape_json_strings(json_object *o);
