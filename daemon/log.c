/* Daemon logging: the journal with structured fields, or stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <systemd/sd-journal.h>

#include "escape.h"
#include "log.h"
#include "macro.h"

/* JOURNAL_STREAM is "DEV:INODE" of the journal stream systemd gave us; honour it only when
 * stderr still is that stream (a shell started from a service is not). */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

void log_init(Logger *l, bool debug) {
        l->journal = stderr_is_journal();
        l->max_priority = debug ? LOG_DEBUG : LOG_INFO;
}

static const char *level(int priority) {
        static const char *const names[] = { "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug" };
        return priority >= 0 && priority < 8 ? names[priority] : "info";
}

void log_emit(const Logger *l, int priority, const LogFields *f, const char *fmt, ...) {
        if (priority > l->max_priority)
                return;
        char raw[2048], msg[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(raw, sizeof(raw), fmt, ap);
        va_end(ap);
        /* Messages are one line; whatever breaks that came from outside (a domain name, a value
         * from its XML) and is escaped, as are the fields. */
        escape_into(msg, sizeof(msg), raw);

        char vcpu[32] = "", domain[1024] = "";
        if (f && f->vcpu >= 0)
                snprintf(vcpu, sizeof(vcpu), "%d", f->vcpu);
        if (f && f->domain)
                escape_into(domain, sizeof(domain), f->domain);
        const struct {
                const char *key, *value;
        } fields[] = {
                { "DOMAIN", f && f->domain ? domain : NULL }, { "ACTION", f ? f->action : NULL },
                { "VCPU", vcpu[0] ? vcpu : NULL },            { "CPUS", f ? f->cpus : NULL },
                { "RESULT", f ? f->result : NULL },
        };

        if (l->journal) {
                char *lines[2 + ELEMENTSOF(fields)];
                struct iovec iov[2 + ELEMENTSOF(fields)];
                int n = 0;
                if (asprintf(&lines[n], "MESSAGE=%s", msg) >= 0)
                        n++;
                if (asprintf(&lines[n], "PRIORITY=%d", priority) >= 0)
                        n++;
                for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                        if (fields[i].value && asprintf(&lines[n], "%s=%s", fields[i].key, fields[i].value) >= 0)
                                n++;
                for (int i = 0; i < n; i++)
                        iov[i] = (struct iovec){ .iov_base = lines[i], .iov_len = strlen(lines[i]) };
                sd_journal_sendv(iov, n);
                for (int i = 0; i < n; i++)
                        free(lines[i]);
                return;
        }

        fprintf(stderr, "kvmtuned[%s]: %s", level(priority), msg);
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (fields[i].value)
                        fprintf(stderr, " %s=%s", fields[i].key, fields[i].value);
        fputc('\n', stderr);
}
