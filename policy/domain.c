/* A libvirt domain XML turned into a placement request (libxml2 + XPath). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "cpulist.h"
#include "domain.h"
#include "escape.h"
#include "macro.h"

#define VCPUS_MAX 16384
#define MEMORY_MAX_KIB (1ULL << 50) /* 1 EiB */
#define KVMTUNED_NS "urn:kvmtuned:policy:1"

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlParserCtxtPtr, xmlFreeParserCtxt)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathContextPtr, xmlXPathFreeContext)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathObjectPtr, xmlXPathFreeObject)

typedef struct Parse {
        xmlXPathContextPtr xp;
        char *error; /* the first problem found */
        bool oom;
} Parse;

__attribute__((format(printf, 2, 3))) static void fail(Parse *p, const char *fmt, ...) {
        if (p->error)
                return;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *raw = NULL;
        if (vasprintf(&raw, fmt, ap) < 0)
                raw = NULL;
        va_end(ap);
        p->error = raw ? escape_text(raw) : NULL; /* it quotes values from the XML */
        p->oom = !p->error;
}

/* The string value of an XPath expression evaluated at node (the document if NULL),
 * malloc'd, or NULL when empty. */
static char *xp_string(Parse *p, xmlNodePtr node, const char *expr) {
        p->xp->node = node ? node : xmlDocGetRootElement(p->xp->doc);
        char buf[512];
        snprintf(buf, sizeof(buf), "string(%s)", expr);
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *) buf, p->xp);
        if (!o || !o->stringval || !o->stringval[0])
                return NULL;
        char *s = strdup((const char *) o->stringval);
        if (!s)
                p->oom = true;
        return s;
}

static xmlXPathObjectPtr xp_nodes(Parse *p, const char *expr) {
        p->xp->node = xmlDocGetRootElement(p->xp->doc);
        return xmlXPathEvalExpression((const xmlChar *) expr, p->xp);
}

static int xp_count(Parse *p, const char *expr) {
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr o = xp_nodes(p, expr);
        return o ? xmlXPathNodeSetGetLength(o->nodesetval) : 0;
}

/* An unsigned number the XML must hold when present; def when absent. */
static uint64_t xp_number(Parse *p, xmlNodePtr node, const char *expr, uint64_t def, uint64_t max, const char *what) {
        _cleanup_free_ char *s = xp_string(p, node, expr);
        if (!s)
                return def;
        char *end;
        errno = 0;
        /* strtoull would take leading blanks and a sign, and wrap " -5" around. */
        unsigned long long v = isdigit((unsigned char) s[0]) ? strtoull(s, &end, 0) : (end = s, 0);
        if (end == s || *end || errno != 0 || v > max) {
                fail(p, "%s is not a number from 0 to %" PRIu64 ": %s", what, max, s);
                return def;
        }
        return v;
}

/* libvirt memory units (docs: formatdomain "Memory Allocation"); KiB when none is given. */
static uint64_t to_kib(Parse *p, uint64_t value, const char *unit, const char *what) {
        static const struct {
                const char *name;
                uint64_t bytes;
        } units[] = {
                { "b", 1 },           { "bytes", 1 },        { "KB", 1000 },     { "k", 1024 },
                { "KiB", 1024 },      { "MB", 1000000 },     { "M", 1 << 20 },   { "MiB", 1 << 20 },
                { "GB", 1000000000 }, { "G", 1 << 30 },      { "GiB", 1 << 30 }, { "TB", 1000000000000ULL },
                { "T", 1ULL << 40 },  { "TiB", 1ULL << 40 },
        };
        if (!unit)
                return value;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strcmp(unit, units[i].name) == 0) {
                        if (value > UINT64_MAX / units[i].bytes) {
                                fail(p, "%s is too large", what);
                                return 0;
                        }
                        return value * units[i].bytes / 1024;
                }
        fail(p, "%s has an unknown unit: %s", what, unit);
        return 0;
}

/* A memory figure: the element or attribute value plus its unit attribute, at most 1 EiB (so
 * that sums and page roundings over it cannot overflow). */
static uint64_t xp_memory(Parse *p, xmlNodePtr node, const char *value_expr, const char *unit_expr, const char *what) {
        uint64_t v = xp_number(p, node, value_expr, 0, UINT64_MAX, what);
        _cleanup_free_ char *unit = xp_string(p, node, unit_expr);
        uint64_t kib = to_kib(p, v, unit, what);
        if (kib > MEMORY_MAX_KIB) {
                fail(p, "%s is larger than 1 EiB", what);
                return 0;
        }
        return kib;
}

static hwloc_bitmap_t xp_cpuset(Parse *p, xmlNodePtr node, const char *expr, const char *what) {
        _cleanup_free_ char *s = xp_string(p, node, expr);
        if (!s)
                return NULL;
        hwloc_bitmap_t set = NULL;
        const char *reason = NULL;
        int r = cpulist_parse_libvirt(s, &set, &reason);
        if (r == -ENOMEM)
                p->oom = true;
        else if (r < 0)
                fail(p, "%s '%s': %s", what, s, reason);
        return set;
}

static void parse_vcpus(Parse *p, DomainRequest *d) {
        d->max_vcpus = (unsigned) xp_number(p, NULL, "/domain/vcpu", 0, VCPUS_MAX, "<vcpu>");
        if (d->max_vcpus == 0 && !p->error)
                fail(p, "the domain has no <vcpu> count");
        d->vcpus =
                (unsigned) xp_number(p, NULL, "/domain/vcpu/@current", d->max_vcpus, d->max_vcpus, "<vcpu current=>");
        if (d->vcpus == 0 && !p->error)
                fail(p, "<vcpu current='0'> leaves the domain without a vCPU");
        d->guest_threads = (unsigned) xp_number(p, NULL, "/domain/cpu/topology/@threads", 1, 64, "<topology threads=>");
        if (d->guest_threads == 0)
                d->guest_threads = 1;
}

static void parse_iothreads(Parse *p, DomainRequest *d) {
        d->n_iothreads = (unsigned) xp_number(p, NULL, "/domain/iothreads", 0, 1024, "<iothreads>");
        int n_ids = xp_count(p, "/domain/iothreadids/iothread");
        if ((unsigned) n_ids > d->n_iothreads)
                d->n_iothreads = (unsigned) n_ids;
        if (d->n_iothreads == 0)
                return;
        d->iothread_ids = calloc(d->n_iothreads, sizeof(unsigned));
        if (!d->iothread_ids) {
                p->oom = true;
                return;
        }
        /* Listed ids first; threads beyond the list get the lowest ids not taken, as libvirt does. */
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr o = xp_nodes(p, "/domain/iothreadids/iothread");
        for (int i = 0; i < n_ids; i++)
                d->iothread_ids[i] = (unsigned) xp_number(p, xmlXPathNodeSetItem(o->nodesetval, i), "@id", 0, 100000,
                                                          "<iothread id=>");
        unsigned next = 1;
        for (unsigned i = (unsigned) n_ids; i < d->n_iothreads; i++) {
                bool taken;
                do {
                        taken = false;
                        for (int j = 0; j < n_ids; j++)
                                taken |= d->iothread_ids[j] == next;
                        if (taken)
                                next++;
                } while (taken);
                d->iothread_ids[i] = next++;
        }
}

static void parse_memory(Parse *p, DomainRequest *d) {
        d->hugepages = xp_count(p, "/domain/memoryBacking/hugepages") > 0;
        /* Hugepages back all of <memory> from the start (a balloon cannot hand them back);
         * other memory is booked at what the guest gets at start. */
        if (!d->hugepages && xp_count(p, "/domain/currentMemory"))
                d->memory_kib =
                        xp_memory(p, NULL, "/domain/currentMemory", "/domain/currentMemory/@unit", "<currentMemory>");
        else
                d->memory_kib = xp_memory(p, NULL, "/domain/memory", "/domain/memory/@unit", "<memory>");
        if (d->memory_kib == 0 && !p->error)
                fail(p, "the domain has no <memory> size");

        if (d->hugepages && xp_count(p, "/domain/memoryBacking/hugepages/page"))
                d->hugepage_kib = xp_memory(p, NULL, "/domain/memoryBacking/hugepages/page[1]/@size",
                                            "/domain/memoryBacking/hugepages/page[1]/@unit", "<page size=>");

        int n = xp_count(p, "/domain/cpu/numa/cell");
        if (n <= 0)
                return;
        d->cells = calloc((size_t) n, sizeof(GuestCell));
        if (!d->cells) {
                p->oom = true;
                return;
        }
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr o = xp_nodes(p, "/domain/cpu/numa/cell");
        for (int i = 0; i < n; i++) {
                xmlNodePtr cell = xmlXPathNodeSetItem(o->nodesetval, i);
                GuestCell *c = &d->cells[d->n_cells++];
                c->id = (unsigned) xp_number(p, cell, "@id", (uint64_t) i, 1024, "<cell id=>");
                c->vcpus = xp_cpuset(p, cell, "@cpus", "<cell cpus=>");
                c->memory_kib = xp_memory(p, cell, "@memory", "@unit", "<cell memory=>");
        }
}

/* Pins the XML already carries: vcpupin, emulatorpin, iothreadpin, <vcpu cpuset>, numatune. */
static void parse_pins(Parse *p, DomainRequest *d) {
        d->pinned_cpus = hwloc_bitmap_alloc();
        d->pinned_nodes = hwloc_bitmap_alloc();
        if (!d->pinned_cpus || !d->pinned_nodes) {
                p->oom = true;
                return;
        }
        static const char *const pins[] = { "/domain/cputune/vcpupin", "/domain/cputune/emulatorpin",
                                            "/domain/cputune/iothreadpin", "/domain/vcpu[@cpuset]" };
        for (size_t i = 0; i < ELEMENTSOF(pins); i++) {
                _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr o = xp_nodes(p, pins[i]);
                for (int j = 0; o && j < xmlXPathNodeSetGetLength(o->nodesetval); j++) {
                        hwloc_bitmap_t set = xp_cpuset(p, xmlXPathNodeSetItem(o->nodesetval, j), "@cpuset", "cpuset");
                        if (!set)
                                continue;
                        hwloc_bitmap_or(d->pinned_cpus, d->pinned_cpus, set);
                        hwloc_bitmap_free(set);
                        d->explicit_pins = true;
                }
        }
        /* placement='auto' asks numad, which is not a pin; a nodeset is. */
        _cleanup_bitmap_ hwloc_bitmap_t nodes =
                xp_cpuset(p, NULL, "/domain/numatune/memory/@nodeset", "<numatune nodeset=>");
        if (nodes) {
                hwloc_bitmap_copy(d->pinned_nodes, nodes);
                d->explicit_pins = true;
        }
}

static void parse_hostdevs(Parse *p, DomainRequest *d) {
        static const char expr[] = "/domain/devices/hostdev[@type='pci']/source/address";
        int n = xp_count(p, expr);
        if (n <= 0)
                return;
        d->hostdevs = calloc((size_t) n, sizeof(*d->hostdevs));
        if (!d->hostdevs) {
                p->oom = true;
                return;
        }
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr o = xp_nodes(p, expr);
        for (int i = 0; i < n; i++) {
                xmlNodePtr a = xmlXPathNodeSetItem(o->nodesetval, i);
                uint64_t dom = xp_number(p, a, "@domain", 0, 0xffffffff, "hostdev domain");
                uint64_t bus = xp_number(p, a, "@bus", 0, 0xff, "hostdev bus");
                uint64_t slot = xp_number(p, a, "@slot", 0, 0x1f, "hostdev slot");
                uint64_t fn = xp_number(p, a, "@function", 0, 7, "hostdev function");
                snprintf(d->hostdevs[d->n_hostdevs++], sizeof(d->hostdevs[0]), "%04x:%02x:%02x.%x", (unsigned) dom,
                         (unsigned) bus, (unsigned) slot, (unsigned) fn);
        }
}

static void parse_metadata(Parse *p, DomainRequest *d) {
        if (xmlXPathRegisterNs(p->xp, (const xmlChar *) "k", (const xmlChar *) KVMTUNED_NS) < 0) {
                p->oom = true;
                return;
        }
        d->metadata_class = xp_string(p, NULL, "/domain/metadata/k:policy/@class");
        d->dedicated_vcpus = xp_cpuset(p, NULL, "/domain/metadata/k:policy/@dedicated-vcpus", "dedicated-vcpus");

        /* Real-time vCPUs (vcpusched fifo/rr) are the ones a mixed domain wants dedicated. */
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr o =
                xp_nodes(p, "/domain/cputune/vcpusched[@scheduler='fifo' or @scheduler='rr']");
        for (int i = 0; o && i < xmlXPathNodeSetGetLength(o->nodesetval); i++) {
                hwloc_bitmap_t set =
                        xp_cpuset(p, xmlXPathNodeSetItem(o->nodesetval, i), "@vcpus", "<vcpusched vcpus=>");
                if (!set)
                        continue;
                if (!d->dedicated_vcpus)
                        d->dedicated_vcpus = set;
                else {
                        hwloc_bitmap_or(d->dedicated_vcpus, d->dedicated_vcpus, set);
                        hwloc_bitmap_free(set);
                }
        }
        if (!d->dedicated_vcpus)
                return;
        if (hwloc_bitmap_last(d->dedicated_vcpus) >= (int) d->max_vcpus)
                fail(p, "dedicated vCPUs name vCPU %d, but the domain has %u", hwloc_bitmap_last(d->dedicated_vcpus),
                     d->max_vcpus);
        else /* vCPUs above <vcpu current=> are not online at start: nothing to place for them */
                hwloc_bitmap_clr_range(d->dedicated_vcpus, d->vcpus, -1);
}

/* libxml2's message without its closing newline, escaped (it may quote the input). */
static char *one_line(const char *msg) {
        _cleanup_free_ char *s = strdup(msg ? msg : "malformed XML");
        if (!s)
                return NULL;
        size_t n = strlen(s);
        while (n > 0 && s[n - 1] == '\n')
                s[--n] = '\0';
        return escape_text(s);
}

int domain_parse(const char *xml, size_t len, DomainRequest **ret_request, char **ret_error) {
        *ret_error = NULL;
        if (len > DOMAIN_XML_MAX) {
                *ret_error = strdup("domain XML is larger than " DOMAIN_XML_MAX_TEXT);
                return *ret_error ? -EINVAL : -ENOMEM;
        }
        _cleanup_(xmlFreeParserCtxtp) xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
        if (!ctxt)
                return -ENOMEM;
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = xmlCtxtReadMemory(
                ctxt, xml, (int) len, "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc) {
                const xmlError *e = xmlCtxtGetLastError(ctxt);
                _cleanup_free_ char *msg = one_line(e ? e->message : NULL);
                if (!msg || asprintf(ret_error, "line %d: %s", e ? e->line : 0, msg) < 0)
                        return -ENOMEM;
                return -EINVAL;
        }
        /* libvirt never writes a DTD; one here can only be an entity bomb or an external fetch. */
        if (doc->intSubset || doc->extSubset) {
                *ret_error = strdup("domain XML must not contain a DOCTYPE");
                return *ret_error ? -EINVAL : -ENOMEM;
        }
        xmlNodePtr root = xmlDocGetRootElement(doc);
        if (!root || strcmp((const char *) root->name, "domain") != 0) {
                *ret_error = strdup("not a libvirt domain: the root element is not <domain>");
                return *ret_error ? -EINVAL : -ENOMEM;
        }

        _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr xp = xmlXPathNewContext(doc);
        _cleanup_(domain_freep) DomainRequest *d = calloc(1, sizeof(DomainRequest));
        if (!xp || !d)
                return -ENOMEM;
        Parse p = { .xp = xp };

        d->name = xp_string(&p, NULL, "/domain/name");
        if (!d->name && !p.oom)
                fail(&p, "the domain has no <name>");
        d->uuid = xp_string(&p, NULL, "/domain/uuid");
        d->virt_type = xp_string(&p, NULL, "/domain/@type");
        parse_vcpus(&p, d);
        parse_iothreads(&p, d);
        parse_memory(&p, d);
        parse_pins(&p, d);
        parse_hostdevs(&p, d);
        parse_metadata(&p, d);

        if (p.oom) {
                free(p.error);
                return -ENOMEM;
        }
        if (p.error) {
                *ret_error = p.error;
                return -EINVAL;
        }
        *ret_request = TAKE_PTR(d);
        return 0;
}

void domain_free(DomainRequest *d) {
        if (!d)
                return;
        free(d->name);
        free(d->uuid);
        free(d->virt_type);
        free(d->iothread_ids);
        for (unsigned i = 0; i < d->n_cells; i++)
                hwloc_bitmap_free(d->cells[i].vcpus);
        free(d->cells);
        hwloc_bitmap_free(d->pinned_cpus);
        hwloc_bitmap_free(d->pinned_nodes);
        free(d->hostdevs);
        free(d->metadata_class);
        hwloc_bitmap_free(d->dedicated_vcpus);
        free(d);
}
