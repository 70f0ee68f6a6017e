/* What the configuration reader's files share: the parse state, the key tables' shape, and the
 * functions each offers the others: errors and warnings recorded (config-errors.c), sections and
 * keys handled (config.c), values parsed (config-value.c), files read (config-read.c). Private. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define LINE_READ_MAX CONFIG_LINE_MAX

typedef enum SectionKind { SECTION_NONE, SECTION_SKIP, SECTION_DAEMON, SECTION_HOST, SECTION_CLASS } SectionKind;

typedef struct ParseState ParseState;
typedef struct KeyDef KeyDef;
typedef int (*ParseFn)(ParseState *s, const KeyDef *k, const char *value, void *target);

struct KeyDef {
        const char *name;
        ParseFn parse;
        size_t offset; /* into DaemonConfig, HostConfig or PolicyClass */
        const void *arg; /* enum names for value_enum */
        size_t auto_flag; /* offset of the bool "was auto" for CPU lists, else 0 */
};

#define MAX_KEYS 16

struct ParseState {
        Config *config;
        ConfigErrors *errors;
        const Topology *topology;
        const char *file;
        FILE *stream;
        bool main_file;
        unsigned line;
        SectionKind kind;
        char section[LINE_READ_MAX + 1];
        PolicyClass *cls;
        unsigned key_lines[MAX_KEYS]; /* where each key of the current section was set, 0: not */
        unsigned host_lines[MAX_KEYS];
        size_t bytes; /* read of the current file */
        bool stopped; /* too many errors, or the file grew past CONFIG_FILE_MAX: read no further */
        int r; /* first -ENOMEM, reported after inih returns */
};

/* config-errors.c */

/* Frees n messages (errors or warnings) and their array. */
void config_messages_free(ConfigError *items, size_t n);

/* Records an error at line of the current file, up to CONFIG_ERRORS_MAX of them (then a last
 * line says so and reading stops). Returns -EINVAL (or -ENOMEM) for the caller to pass on. */
__attribute__((format(printf, 3, 4))) int config_error_at(ParseState *s, unsigned line, const char *fmt, ...);
#define parse_error(s, ...) config_error_at(s, (s)->line, __VA_ARGS__)

/* Records a warning: what loads but cannot work on this host. */
__attribute__((format(printf, 3, 4))) void config_warning_at(ParseState *s, unsigned line, const char *fmt, ...);

/* config.c */

/* Opens section name ("Class NAME", "Host", "Daemon") at the current line, closing the one before. */
void config_start_section(ParseState *s, const char *name);

/* Ends the current [Class] section: checks what its keys say together. */
void config_finish_class(ParseState *s);

/* inih's handler: one KEY=VALUE of section. Returns 1 (errors are recorded, never fatal to inih). */
int config_handle_key(void *user, const char *section, const char *name, const char *value);

/* config-value.c: one parser per kind of value, writing to target (the KeyDef's field). Each
 * returns 0, or what parse_error returns. */
int value_enum(ParseState *s, const KeyDef *k, const char *value, void *target);
int value_bool(ParseState *s, const KeyDef *k, const char *value, void *target);
int value_string(ParseState *s, const KeyDef *k, const char *value, void *target);
int value_governor(ParseState *s, const KeyDef *k, const char *value, void *target);
int value_listen(ParseState *s, const KeyDef *k, const char *value, void *target);
int value_duration(ParseState *s, const KeyDef *k, const char *value, void *target);
int value_percent(ParseState *s, const KeyDef *k, const char *value, void *target);
int value_ratio(ParseState *s, const KeyDef *k, const char *value, void *target);
int value_idle_latency(ParseState *s, const KeyDef *k, const char *value, void *target);
int value_priority(ParseState *s, const KeyDef *k, const char *value, void *target);
int value_page_size(ParseState *s, const KeyDef *k, const char *value, void *target);
int value_list(ParseState *s, const KeyDef *k, const char *value, void *target);
int value_cpus(ParseState *s, const KeyDef *k, const char *value, void *target);

/* config-read.c */

/* Reads the file at path (the main kvmtuned.conf when main_file) into s->config, recording
 * every error with its line. Returns 0 (errors are in s->errors), -ENOMEM. */
int reader_parse_file(ParseState *s, const char *path, bool main_file);
