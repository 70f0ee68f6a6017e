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
/* libvirt's bound on a memory figure: bytes in a long long (virMemoryMaxValue on 64-bit). */
#define MEMORY_MAX_BYTES ((uint64_t) INT64_MAX)
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

/* Reads s as libvirt reads its unsigned numbers (virStrToLong_uip, virStrToLong_ullp, under
 * virXPathUInt, virXPathULongLong and virXMLPropUInt): blanks first (g_ascii_strtoull skips
 * space, \t, \n, \v, \f, \r), an optional '+', digits, nothing after. base is 10 for every count
 * and size; 0 (a 0x or 0 prefix picks 16 or 8) only for PCI addresses, as virPCIDeviceAddressParseXML.
 * A '-' is refused (strtoull would wrap it around). Returns 0, -EINVAL, or -ERANGE past 64 bits. */
static int parse_unsigned(const char *s, int base, uint64_t *ret) {
        while (*s && strchr(" \t\n\v\f\r", *s))
                s++;
        if (*s == '+')
                s++;
        if (base == 0 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isxdigit((unsigned char) s[2])) {
                base = 16;
                s += 2;
        } else if (base == 0)
                base = s[0] == '0' ? 8 : 10;
        uint64_t v = 0;
        bool overflow = false;
        const char *digits = s;
        for (; *s; s++) {
                int digit = isdigit((unsigned char) *s)    ? *s - '0'
                            : isxdigit((unsigned char) *s) ? tolower((unsigned char) *s) - 'a' + 10
                                                           : base;
                if (digit >= base)
                        break;
                overflow |= v > (UINT64_MAX - (uint64_t) digit) / (uint64_t) base;
                v = v * (uint64_t) base + (uint64_t) digit;
        }
        if (s == digits || *s)
                return -EINVAL;
        if (overflow)
                return -ERANGE;
        *ret = v;
        return 0;
}

/* A number the XML holds at expr, in base (see parse_unsigned), from min to max; def when absent
 * or empty (libvirt's virXPath* take an empty value as none). Every number domain.c reads comes
 * through here. */
static uint64_t xp_number_base(Parse *p, xmlNodePtr node, const char *expr, int base, uint64_t def, uint64_t min,
                               uint64_t max, const char *what) {
        _cleanup_free_ char *s = xp_string(p, node, expr);
        if (!s)
                return def;
        uint64_t v;
        if (parse_unsigned(s, base, &v) < 0)
                fail(p, "%s is not a number: %s", what, s);
        else if (v < min)
                fail(p, "%s must be at least %" PRIu64 ": %s", what, min, s);
        else if (v > max)
                fail(p, "%s must be at most %" PRIu64 ": %s", what, max, s);
        else
                return v;
        return def;
}

static uint64_t xp_number(Parse *p, xmlNodePtr node, const char *expr, uint64_t def, uint64_t min, uint64_t max,
                          const char *what) {
        return xp_number_base(p, node, expr, 10, def, min, max, what);
}

/* The bytes in one unit as libvirt's virScaleInteger reads it, in any case: b, byte, bytes;
 * k, m, g, t, p, e alone or with "iB" (powers of 1024) or "B" (powers of 1000); KiB when there
 * is none. 0 for an unknown unit. */
static uint64_t unit_bytes(const char *unit) {
        static const char powers[] = "kmgtpe";
        if (!unit || !*unit)
                return 1024;
        if (strcasecmp(unit, "b") == 0 || strcasecmp(unit, "byte") == 0 || strcasecmp(unit, "bytes") == 0)
                return 1;
        uint64_t base;
        if (!unit[1] || strcasecmp(unit + 1, "iB") == 0)
                base = 1024;
        else if (tolower((unsigned char) unit[1]) == 'b' && !unit[2])
                base = 1000;
        else
                return 0;
        const char *power = strchr(powers, tolower((unsigned char) unit[0]));
        if (!power)
                return 0;
        uint64_t bytes = base;
        for (const char *q = powers; q < power; q++)
                bytes *= base;
        return bytes;
}

/* A memory figure in KiB as libvirt's virDomainParseMemory makes it: the value times its unit,
 * at most a long long of bytes, rounded up to KiB. 0 when absent. */
static uint64_t xp_memory(Parse *p, xmlNodePtr node, const char *value_expr, const char *unit_expr, const char *what) {
        uint64_t v = xp_number(p, node, value_expr, 0, 0, UINT64_MAX, what);
        _cleanup_free_ char *unit = xp_string(p, node, unit_expr);
        uint64_t bytes = unit_bytes(unit);
        if (bytes == 0) {
                fail(p, "%s has an unknown unit: %s", what, unit);
                return 0;
        }
        /* libvirt's two checks: the bytes fit (virScaleInteger), then the KiB rounded up do. */
        if (v > MEMORY_MAX_BYTES / bytes || (v * bytes + 1023) / 1024 >= (MEMORY_MAX_BYTES + 1023) / 1024) {
                fail(p, "%s is more than libvirt accepts (8 EiB): %" PRIu64 " %s", what, v, unit ? unit : "KiB");
                return 0;
        }
        return (v * bytes + 1023) / 1024;
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
        /* No <vcpu>: one, as libvirt's virDomainVcpuParse; none at all is an error (its validation
         * says a domain requires at least 1 vCPU). */
        d->max_vcpus = (unsigned) xp_number(p, NULL, "/domain/vcpu", 1, 1, VCPUS_MAX, "<vcpu>");
        d->vcpus = (unsigned) xp_number(p, NULL, "/domain/vcpu/@current", d->max_vcpus, 1, d->max_vcpus,
                                        "<vcpu current=>");
        d->guest_threads =
                (unsigned) xp_number(p, NULL, "/domain/cpu/topology/@threads", 1, 1, 64, "<topology threads=>");
}

static void parse_iothreads(Parse *p, DomainRequest *d) {
        d->n_iothreads = (unsigned) xp_number(p, NULL, "/domain/iothreads", 0, 0, 1024, "<iothreads>");
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
                d->iothread_ids[i] = (unsigned) xp_number(p, xmlXPathNodeSetItem(o->nodesetval, i), "@id", 0, 1, 100000,
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

static void parse_cells(Parse *p, DomainRequest *d) {
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
                c->id = (unsigned) xp_number(p, cell, "@id", (uint64_t) i, 0, 1024, "<cell id=>");
                c->vcpus = xp_cpuset(p, cell, "@cpus", "<cell cpus=>");
                c->memory_kib = xp_memory(p, cell, "@memory", "@unit", "<cell memory=>");
        }
}

static void parse_memory(Parse *p, DomainRequest *d) {
        d->hugepages = xp_count(p, "/domain/memoryBacking/hugepages") > 0;
        parse_cells(p, d);
        uint64_t memory = xp_memory(p, NULL, "/domain/memory", "/domain/memory/@unit", "<memory>"), cells = 0;
        uint64_t current =
                xp_memory(p, NULL, "/domain/currentMemory", "/domain/currentMemory/@unit", "<currentMemory>");
        for (unsigned i = 0; i < d->n_cells; i++)
                cells += d->cells[i].memory_kib;
        /* As libvirt (virDomainDefPostParseMemory): guest NUMA cells with memory set the total,
         * whatever <memory> says; without either there is no size; a <currentMemory> of 0 or
         * above the total is the total. */
        if (cells > 0)
                memory = cells;
        if (memory == 0) {
                if (!p->error)
                        fail(p, "the domain has no <memory> size (nor guest NUMA cells with memory)");
                return;
        }
        if (current == 0 || current > memory)
                current = memory;
        /* Hugepages back all of <memory> from the start (a balloon cannot hand them back);
         * other memory is booked at what the guest gets at start. */
        d->memory_kib = d->hugepages ? memory : current;
        d->max_memory_kib = memory;

        if (d->hugepages && xp_count(p, "/domain/memoryBacking/hugepages/page")) {
                d->hugepage_kib = xp_memory(p, NULL, "/domain/memoryBacking/hugepages/page[1]/@size",
                                            "/domain/memoryBacking/hugepages/page[1]/@unit", "<page size=>");
                if (d->hugepage_kib == 0 && !p->error)
                        fail(p, "<page> names no size"); /* libvirt: hugepage size can't be zero */
        }
}

/* Adds the cpuset= of every element expr names to set. Returns how many named one. */
static int or_cpusets(Parse *p, hwloc_bitmap_t set, const char *expr) {
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr o = xp_nodes(p, expr);
        int n = 0;
        for (int i = 0; o && i < xmlXPathNodeSetGetLength(o->nodesetval); i++) {
                _cleanup_bitmap_ hwloc_bitmap_t one =
                        xp_cpuset(p, xmlXPathNodeSetItem(o->nodesetval, i), "@cpuset", "cpuset");
                if (!one)
                        continue;
                hwloc_bitmap_or(set, set, one);
                n++;
        }
        return n;
}

/* A <vcpupin> names a vCPU and an <iothreadpin> an iothread the domain has, in libvirt's numbers
 * (virDomainVcpuPinDefParseXML, virDomainIOThreadPinDefParseXML: base 10). */
static void check_pin_targets(Parse *p, const DomainRequest *d) {
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr v = xp_nodes(p, "/domain/cputune/vcpupin");
        for (int i = 0; v && i < xmlXPathNodeSetGetLength(v->nodesetval); i++)
                xp_number(p, xmlXPathNodeSetItem(v->nodesetval, i), "@vcpu", 0, 0, d->max_vcpus - 1, "<vcpupin vcpu=>");
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr io = xp_nodes(p, "/domain/cputune/iothreadpin");
        for (int i = 0; io && i < xmlXPathNodeSetGetLength(io->nodesetval); i++) {
                unsigned id = (unsigned) xp_number(p, xmlXPathNodeSetItem(io->nodesetval, i), "@iothread", 0, 1,
                                                   UINT32_MAX, "<iothreadpin iothread=>");
                bool found = false;
                for (unsigned j = 0; j < d->n_iothreads; j++)
                        found |= d->iothread_ids[j] == id;
                if (!found && !p->error)
                        fail(p, "<iothreadpin iothread='%u'> names an iothread the domain does not have", id);
        }
}

/* <numatune><memory>: its nodeset pins memory (placement='auto' asks numad: no pin); its mode is
 * strict unless it names another (libvirt's numa_conf.c, virDomainNumatuneSet). */
static void parse_numatune(Parse *p, DomainRequest *d) {
        static const char *const modes[] = { "strict", "preferred", "interleave", "restrictive" };
        if (xp_count(p, "/domain/numatune/memory") == 0)
                return;
        _cleanup_free_ char *mode = xp_string(p, NULL, "/domain/numatune/memory[1]/@mode");
        for (size_t i = 0; i < ELEMENTSOF(modes) && !d->numatune_mode; i++)
                if (strcmp(mode ? mode : "strict", modes[i]) == 0 && !(d->numatune_mode = strdup(modes[i])))
                        p->oom = true;
        if (!d->numatune_mode && !p->oom)
                fail(p, "<numatune><memory mode=> is not strict, preferred, interleave or restrictive: %s", mode);

        _cleanup_bitmap_ hwloc_bitmap_t nodes =
                xp_cpuset(p, NULL, "/domain/numatune/memory[1]/@nodeset", "<numatune nodeset=>");
        if (nodes) {
                hwloc_bitmap_copy(d->pinned_nodes, nodes);
                d->explicit_pins = true;
        }
}

/* Pins the XML already carries: vcpupin, <vcpu cpuset>, iothreadpin and numatune make them
 * explicit; an emulatorpin is kept apart (alone it pins no vCPU: VFIO guides set just that). */
static void parse_pins(Parse *p, DomainRequest *d) {
        d->pinned_cpus = hwloc_bitmap_alloc();
        d->emulator_pins = hwloc_bitmap_alloc();
        d->pinned_nodes = hwloc_bitmap_alloc();
        d->stay_nodes = hwloc_bitmap_alloc();
        if (!d->pinned_cpus || !d->emulator_pins || !d->pinned_nodes || !d->stay_nodes) {
                p->oom = true;
                return;
        }
        int n = or_cpusets(p, d->pinned_cpus, "/domain/cputune/vcpupin");
        n += or_cpusets(p, d->pinned_cpus, "/domain/vcpu[@cpuset]");
        n += or_cpusets(p, d->pinned_cpus, "/domain/cputune/iothreadpin");
        d->explicit_pins = n > 0;
        or_cpusets(p, d->emulator_pins, "/domain/cputune/emulatorpin");
        hwloc_bitmap_or(d->pinned_cpus, d->pinned_cpus, d->emulator_pins);
        check_pin_targets(p, d);
        parse_numatune(p, d);
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
                /* libvirt reads PCI addresses in base 0 (0x...), unlike every count. */
                uint64_t dom = xp_number_base(p, a, "@domain", 0, 0, 0, 0xffffffff, "hostdev domain");
                uint64_t bus = xp_number_base(p, a, "@bus", 0, 0, 0, 0xff, "hostdev bus");
                uint64_t slot = xp_number_base(p, a, "@slot", 0, 0, 0, 0x1f, "hostdev slot");
                uint64_t fn = xp_number_base(p, a, "@function", 0, 0, 0, 7, "hostdev function");
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
        hwloc_bitmap_free(d->emulator_pins);
        hwloc_bitmap_free(d->pinned_nodes);
        hwloc_bitmap_free(d->stay_nodes);
        free(d->numatune_mode);
        free(d->hostdevs);
        free(d->metadata_class);
        hwloc_bitmap_free(d->dedicated_vcpus);
        free(d);
}
