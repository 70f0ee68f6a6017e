/* Configuration files read line by line: bounded lines and files, comments, invisible characters. */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

#include "config-internal.h"
#include "macro.h"

/* inih (libinih1 as distributions build it) hands lines to its handler through a buffer of
 * INI_MAX_LINE = 200 bytes, fixed when the library is built: a longer MatchName= list could not
 * pass through it. So read_line() splits KEY=VALUE itself and calls config_handle_key() directly; inih
 * only drives the loop. A line is read into a buffer of CONFIG_LINE_MAX bytes and the rest of a
 * longer one is skipped unread (and reported). */

/* Where a comment starts: '#' or ';' at the start of the line or after white space; len if
 * there is none. */
static size_t comment_start(const char *p, size_t len) {
        for (size_t i = 0; i < len; i++)
                if ((p[i] == '#' || p[i] == ';') && (i == 0 || isspace((unsigned char) p[i - 1])))
                        return i;
        return len;
}

/* Characters no one types on purpose and no one sees: Unicode's invisible spaces and format
 * characters (Cf, Zs other than the space). In a value they make a glob or word that never
 * matches, and a bidi override makes the line read differently from what it is. */
static const struct {
        uint32_t lo, hi;
        const char *name;
} invisible_chars[] = {
        { 0x00A0, 0x00A0, "no-break space" },
        { 0x00AD, 0x00AD, "soft hyphen" },
        { 0x034F, 0x034F, "combining grapheme joiner" },
        { 0x061C, 0x061C, "arabic letter mark" },
        { 0x115F, 0x1160, "hangul filler" },
        { 0x17B4, 0x17B5, "khmer inherent vowel" },
        { 0x180B, 0x180F, "mongolian variation selector or vowel separator" },
        { 0x2000, 0x200A, "typographic space" },
        { 0x200B, 0x200B, "zero width space" },
        { 0x200C, 0x200C, "zero width non-joiner" },
        { 0x200D, 0x200D, "zero width joiner" },
        { 0x200E, 0x200F, "left-to-right or right-to-left mark" },
        { 0x2028, 0x2029, "line or paragraph separator" },
        { 0x202A, 0x202C, "bidirectional embedding" },
        { 0x202D, 0x202D, "left-to-right override" },
        { 0x202E, 0x202E, "right-to-left override" },
        { 0x202F, 0x202F, "narrow no-break space" },
        { 0x205F, 0x205F, "medium mathematical space" },
        { 0x2060, 0x2064, "word joiner or invisible operator" },
        { 0x2066, 0x2069, "bidirectional isolate" },
        { 0x206A, 0x206F, "deprecated format character" },
        { 0x3000, 0x3000, "ideographic space" },
        { 0x3164, 0x3164, "hangul filler" },
        { 0xFE00, 0xFE0F, "variation selector" },
        { 0xFEFF, 0xFEFF, "zero width no-break space or byte order mark" },
        { 0xFFA0, 0xFFA0, "halfwidth hangul filler" },
        { 0xFFF9, 0xFFFB, "interlinear annotation" },
        { 0x1D173, 0x1D17A, "musical format character" },
        { 0xE0000, 0xE007F, "tag character" },
        { 0xE0100, 0xE01EF, "variation selector" },
};

/* Decodes the UTF-8 sequence at p (left bytes remain) into *ret_cp and returns its length; a
 * byte that starts no valid sequence is one byte of U+FFFD (not our business: it is visible). */
static size_t utf8_next(const unsigned char *p, size_t left, uint32_t *ret_cp) {
        size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 1;
        *ret_cp = 0xFFFD;
        if (p[0] >= 0xF8 || (n == 1 && p[0] >= 0x80) || n > left)
                return 1;
        uint32_t cp = n == 1 ? p[0] : p[0] & (0x7Fu >> n);
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xC0) != 0x80)
                        return 1;
                cp = cp << 6 | (p[i] & 0x3Fu);
        }
        *ret_cp = cp;
        return n;
}

/* Reports the first NUL, control character (tab aside) or invisible character of p[0..len) as
 * an error naming its byte (counted from 1 at the start of the line, which is base bytes
 * before p) and code point; returns whether there was one. */
static bool report_invisible(ParseState *s, const char *p, size_t len, size_t base) {
        for (size_t i = 0, n; i < len; i += n) {
                uint32_t cp;
                n = utf8_next((const unsigned char *) p + i, len - i, &cp);
                size_t at = base + i + 1;
                if (cp == 0 && n == 1) {
                        parse_error(s, "NUL byte at byte %zu of the line", at);
                        return true;
                }
                if ((cp < 0x20 && cp != '\t') || cp == 0x7F) {
                        parse_error(s, "control character 0x%02" PRIX32 " at byte %zu of the line", cp, at);
                        return true;
                }
                if (cp >= 0x80 && cp <= 0x9F) {
                        parse_error(s, "control character U+%04" PRIX32 " at byte %zu of the line", cp, at);
                        return true;
                }
                for (size_t k = 0; k < ELEMENTSOF(invisible_chars); k++)
                        if (cp >= invisible_chars[k].lo && cp <= invisible_chars[k].hi) {
                                parse_error(s, "invisible character U+%04" PRIX32 " (%s) at byte %zu of the line", cp,
                                            invisible_chars[k].name, at);
                                return true;
                        }
        }
        return false;
}

static void trim_right(char *p) {
        size_t len = strlen(p);
        while (len > 0 && isspace((unsigned char) p[len - 1]))
                p[--len] = '\0';
}

/* A [Section] line (p starts with '[', has no trailing white space). */
static void parse_section_line(ParseState *s, char *p) {
        size_t len = strlen(p);
        if (p[len - 1] != ']') {
                parse_error(s, "section header lacks its closing ']'");
                s->kind = SECTION_SKIP;
                return;
        }
        p[len - 1] = '\0';
        char *name = p + 1;
        while (isspace((unsigned char) *name))
                name++;
        trim_right(name);
        config_start_section(s, name);
}

/* One line of len bytes (NULs included), without its newline: a section, a KEY=VALUE setting
 * (handed to config_handle_key() here, whatever its length), a comment or nothing. */
static void parse_line(ParseState *s, char *buf, size_t len) {
        while (len > 0 && buf[len - 1] == '\r') /* CRLF line ends */
                buf[--len] = '\0';
        char *p = buf;
        if (s->line == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) { /* a BOM opening the file */
                p += 3;
                len -= 3;
        }
        size_t end = comment_start(p, len);
        if (report_invisible(s, p, end, (size_t) (p - buf))) {
                if (p[strspn(p, " \t")] == '[') /* keys below must not land in the section before */
                        s->kind = SECTION_SKIP;
                return;
        }
        p[end] = '\0';
        while (isspace((unsigned char) *p))
                p++;
        trim_right(p);
        if (!*p)
                return;
        if (p[0] == '[') {
                parse_section_line(s, p);
                return;
        }
        char *eq = strchr(p, '=');
        if (!eq) {
                parse_error(s, "expected KEY=VALUE, [SECTION] or a comment: %s", p);
                return;
        }
        if (eq == p) {
                parse_error(s, "a value without a key: %s", p);
                return;
        }
        *eq = '\0';
        trim_right(p);
        char *value = eq + 1;
        while (isspace((unsigned char) *value))
                value++;
        config_handle_key(s, s->section, p, value);
}

/* One line of at most LINE_READ_MAX characters into buf (the rest of a longer line is skipped);
 * returns its length, -1 at the end of the file, or -2 when the line was longer. */
static ssize_t read_bounded(ParseState *s, char *buf) {
        size_t len = 0;
        bool any = false, longer = false;
        int ch;
        while (!s->stopped && (ch = getc_unlocked(s->stream)) != EOF) {
                any = true;
                if (++s->bytes > CONFIG_FILE_MAX) {
                        config_error_at(s, 0, "grew past %d bytes while being read", CONFIG_FILE_MAX);
                        s->stopped = true;
                }
                if (ch == '\n')
                        break;
                if (len < LINE_READ_MAX)
                        buf[len++] = (char) ch;
                else
                        longer = true;
        }
        buf[len] = '\0';
        return !any || s->stopped ? -1 : longer ? -2 : (ssize_t) len;
}

/* inih's reader: parses each line itself (so the line number is always known and a line is
 * not bound by inih's INI_MAX_LINE) and hands inih an empty line. */
static char *read_line(char *str, int num, void *stream) {
        ParseState *s = stream;
        char buf[LINE_READ_MAX + 1];
        (void) num;
        ssize_t len = read_bounded(s, buf);
        if (len == -1)
                return NULL;
        s->line++;
        str[0] = '\0';
        if (len == -2)
                parse_error(s, "line is too long: more than %d bytes, the most a line may have", LINE_READ_MAX);
        else
                parse_line(s, buf, (size_t) len);
        return str;
}

/* Opens path for reading if it is a regular file of at most CONFIG_FILE_MAX bytes (O_NONBLOCK:
 * a FIFO named by mistake must not hang the open). Returns the stream, or NULL with the error
 * recorded. */
static FILE *open_config_file(ParseState *s, const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                config_error_at(s, 0, "cannot open: %s", strerror(errno));
                return NULL;
        }
        if (S_ISDIR(st.st_mode)) { /* --config given the policy directory, most likely */
                if (s->main_file)
                        config_error_at(s, 0, "is a directory, not a configuration file such as kvmtuned.conf");
                else
                        config_error_at(s, 0, "is a directory, not a policy file");
                return NULL;
        }
        if (!S_ISREG(st.st_mode)) {
                config_error_at(s, 0, "not a regular file");
                return NULL;
        }
        if (st.st_size > CONFIG_FILE_MAX) {
                config_error_at(s, 0, "%jd bytes; a configuration file may have at most %d", (intmax_t) st.st_size,
                                CONFIG_FILE_MAX);
                return NULL;
        }
        FILE *f = fdopen(fd, "r");
        if (!f) {
                s->r = -ENOMEM;
                return NULL;
        }
        TAKE_FD(fd);
        return f;
}

int reader_parse_file(ParseState *s, const char *path, bool main_file) {
        if (s->stopped)
                return s->r;
        s->main_file = main_file;
        _cleanup_fclose_ FILE *f = open_config_file(s, path);
        if (!f)
                return s->r;
        s->stream = f;
        s->bytes = 0;
        s->line = 0;
        s->kind = SECTION_NONE;
        s->cls = NULL;

        /* read_line hands inih only empty lines: its return is a safety net. */
        int r = ini_parse_stream(read_line, s, config_handle_key, s);
        config_finish_class(s);
        if (r > 0 && s->errors->n == 0)
                config_error_at(s, (unsigned) r, "cannot parse this line");
        return s->r;
}
