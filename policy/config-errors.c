/* Configuration errors and warnings: recorded with file and line, bounded, formatted for people. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"

/* Appends one message to a list of errors or of warnings. */
__attribute__((format(printf, 5, 0))) static int messages_addv(ConfigError **items, size_t *n, const char *file,
                                                               unsigned line, const char *fmt, va_list ap) {
        ConfigError *grown = realloc(*items, (*n + 1) * sizeof(ConfigError));
        if (!grown)
                return -ENOMEM;
        *items = grown;
        ConfigError *e = &grown[*n];
        *e = (ConfigError){ .line = line };
        if (vasprintf(&e->message, fmt, ap) < 0)
                return -ENOMEM;
        if (file && !(e->file = strdup(file))) {
                free(e->message);
                return -ENOMEM;
        }
        (*n)++;
        return 0;
}

__attribute__((format(printf, 4, 0))) static int errors_addv(ConfigErrors *errors, const char *file, unsigned line,
                                                             const char *fmt, va_list ap) {
        return messages_addv(&errors->items, &errors->n, file, line, fmt, ap);
}

__attribute__((format(printf, 4, 5))) static int errors_add(ConfigErrors *errors, const char *file, unsigned line,
                                                            const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = errors_addv(errors, file, line, fmt, ap);
        va_end(ap);
        return r;
}

/* Records an error at the current line, up to CONFIG_ERRORS_MAX of them (then a last line says
 * so and reading stops); returns -EINVAL (or -ENOMEM) for the caller to pass on. */
int config_error_at(ParseState *s, unsigned line, const char *fmt, ...) {
        int r = 0;
        if (s->errors->n >= CONFIG_ERRORS_MAX) {
                if (s->errors->n == CONFIG_ERRORS_MAX)
                        r = errors_add(s->errors, NULL, 0, "too many errors: the first %d are shown",
                                       CONFIG_ERRORS_MAX);
                s->stopped = true;
        } else {
                va_list ap;
                va_start(ap, fmt);
                r = errors_addv(s->errors, s->file, line, fmt, ap);
                va_end(ap);
        }
        if (r < 0)
                s->r = r;
        return r < 0 ? r : -EINVAL;
}

/* Records a warning: what loads but cannot work on this host. Past CONFIG_ERRORS_MAX of them
 * the rest are dropped (they stop nothing, so nothing needs to say so). */
void config_warning_at(ParseState *s, unsigned line, const char *fmt, ...) {
        if (s->config->n_warnings >= CONFIG_ERRORS_MAX)
                return;
        va_list ap;
        va_start(ap, fmt);
        int r = messages_addv(&s->config->warnings, &s->config->n_warnings, s->file, line, fmt, ap);
        va_end(ap);
        if (r < 0)
                s->r = r;
}

void config_messages_free(ConfigError *items, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(items[i].file);
                free(items[i].message);
        }
        free(items);
}

void config_errors_clear(ConfigErrors *errors) {
        config_messages_free(errors->items, errors->n);
        *errors = (ConfigErrors){ 0 };
}

static char *messages_format(const ConfigError *items, size_t n, const char *prefix) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                const ConfigError *e = &items[i];
                if (e->file && e->line)
                        fprintf(f, "%s:%u: %s%s\n", e->file, e->line, prefix, e->message);
                else if (e->file)
                        fprintf(f, "%s: %s%s\n", e->file, prefix, e->message);
                else
                        fprintf(f, "%s%s\n", prefix, e->message);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

char *config_errors_format(const ConfigErrors *errors) {
        return messages_format(errors->items, errors->n, "");
}

char *config_warnings_format(const Config *c) {
        return messages_format(c->warnings, c->n_warnings, "warning: ");
}
