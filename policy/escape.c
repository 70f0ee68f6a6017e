/* Escaping of outside text for one-line output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

static bool needs(unsigned char c) {
        return c < 0x20 || c == 0x7f || c == '\\';
}

bool escape_needed(const char *s) {
        for (; s && *s; s++)
                if (needs((unsigned char) *s))
                        return true;
        return false;
}

/* The escaped form of c into out (at least 5 bytes); returns its length. */
static size_t escape_char(unsigned char c, char *out) {
        const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\\' ? "\\\\" : NULL;
        if (named)
                return (size_t) snprintf(out, 5, "%s", named);
        if (needs(c))
                return (size_t) snprintf(out, 5, "\\x%02x", c);
        out[0] = (char) c;
        return 1;
}

char *escape_into(char *buf, size_t size, const char *s) {
        size_t len = 0;
        for (; s && *s; s++) {
                char e[5];
                size_t n = escape_char((unsigned char) *s, e);
                if (len + n >= size)
                        break;
                memcpy(buf + len, e, n);
                len += n;
        }
        buf[len] = '\0';
        return buf;
}

void escape_fputs(const char *s, FILE *f) {
        for (; s && *s; s++) {
                char e[5];
                fwrite(e, 1, escape_char((unsigned char) *s, e), f);
        }
}

char *escape_text(const char *s) {
        size_t size = 4 * strlen(s ? s : "") + 1; /* \xNN at most */
        char *buf = malloc(size);
        return buf ? escape_into(buf, size, s) : NULL;
}

int escape_json_strings(json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_string: {
                if (!escape_needed(json_object_get_string(o)))
                        return 0;
                char *e = escape_text(json_object_get_string(o));
                int r = e && json_object_set_string(o, e) ? 0 : -ENOMEM;
                free(e);
                return r;
        }
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        if (escape_json_strings(json_object_array_get_idx(o, i)) < 0)
                                return -ENOMEM;
                return 0;
        case json_type_object: {
                json_object_object_foreach(o, key, value) {
                        (void) key;
                        if (escape_json_strings(value) < 0)
                                return -ENOMEM;
                }
                return 0;
        }
        default:
                return 0;
        }
}
