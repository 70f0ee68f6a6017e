/* Domain XML to placement request: real-world samples, units, pins, metadata, broken and
 * hostile input. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpulist.h"
#include "domain.h"
#include "kfile.h"

static DomainRequest *parse_fixture(const char *file) {
        char *xml = NULL, *error = NULL;
        assert_int_equal(kfile_read(KVMTUNED_FIXTURES "/domains", file, &xml), 0);
        DomainRequest *d = NULL;
        int r = domain_parse(xml, strlen(xml), &d, &error);
        if (r < 0)
                print_error("%s: %s\n", file, error);
        assert_int_equal(r, 0);
        assert_null(error);
        free(xml);
        return d;
}

static char *parse_error_of(const char *xml) {
        DomainRequest *d = NULL;
        char *error = NULL;
        assert_int_equal(domain_parse(xml, strlen(xml), &d, &error), -EINVAL);
        assert_null(d);
        assert_non_null(error);
        return error;
}

static void assert_cpus(hwloc_const_bitmap_t set, const char *want) {
        char *s = cpulist_format(set);
        assert_string_equal(s, want);
        free(s);
}

static void test_windows_guest(void **state) {
        (void) state;
        DomainRequest *d = parse_fixture("win10-virt-install.xml");
        assert_string_equal(d->name, "win10");
        assert_string_equal(d->uuid, "5f0c8a4e-2d1b-4c3a-9e7f-0a1b2c3d4e5f");
        assert_string_equal(d->virt_type, "kvm");
        assert_int_equal(d->vcpus, 8);
        assert_int_equal(d->max_vcpus, 8);
        assert_int_equal(d->guest_threads, 2);
        assert_int_equal(d->memory_kib, 8388608);
        assert_false(d->hugepages);
        assert_false(d->explicit_pins);
        assert_int_equal(d->n_iothreads, 0);
        assert_int_equal(d->n_hostdevs, 0);
        assert_null(d->metadata_class); /* libosinfo metadata is not ours */
        domain_free(d);
}

static void test_nova_pinned_guest(void **state) {
        (void) state;
        DomainRequest *d = parse_fixture("nova-pinned.xml");
        assert_true(d->explicit_pins);
        assert_cpus(d->pinned_cpus, "2-5");
        assert_cpus(d->pinned_nodes, "0");
        assert_int_equal(d->n_cells, 1);
        assert_cpus(d->cells[0].vcpus, "0-3");
        assert_int_equal(d->cells[0].memory_kib, 4194304);
        domain_free(d);
}

static void test_hugepage_guest(void **state) {
        (void) state;
        DomainRequest *d = parse_fixture("hugepage-db.xml");
        assert_int_equal(d->memory_kib, 16ULL * 1024 * 1024); /* <memory unit='GiB'>16 */
        assert_true(d->hugepages);
        assert_int_equal(d->hugepage_kib, 1024 * 1024);
        assert_int_equal(d->vcpus, 6); /* current='6' of 8 */
        assert_int_equal(d->max_vcpus, 8);
        assert_int_equal(d->n_iothreads, 2);
        assert_int_equal(d->iothread_ids[0], 1);
        assert_int_equal(d->iothread_ids[1], 2);
        assert_int_equal(d->n_cells, 2);
        assert_int_equal(d->cells[1].memory_kib, 8ULL * 1024 * 1024);
        assert_cpus(d->cells[1].vcpus, "4-7");
        domain_free(d);
}

static void test_hostdev_gaming_guest(void **state) {
        (void) state;
        DomainRequest *d = parse_fixture("gaming-hostdev.xml");
        assert_string_equal(d->metadata_class, "gaming");
        assert_int_equal(d->n_hostdevs, 1); /* the USB hostdev is not a PCI device */
        assert_string_equal(d->hostdevs[0], "0000:18:00.0");
        assert_true(d->hugepages);
        assert_int_equal(d->hugepage_kib, 0); /* no size: the class decides */
        assert_int_equal(d->memory_kib, 16384 * 1024);
        assert_int_equal(d->n_iothreads, 1);
        assert_int_equal(d->iothread_ids[0], 4);
        domain_free(d);

        /* PCI domains beyond 0xffff exist (Intel VMD): libvirt writes them in full. */
        static const char vmd[] = "<domain><name>v</name><vcpu>1</vcpu><memory>1</memory><devices><hostdev "
                                  "mode='subsystem' type='pci'><source><address domain='0x10000' bus='0xe1' "
                                  "slot='0x00' function='0x0'/></source></hostdev></devices></domain>";
        char *error = NULL;
        assert_int_equal(domain_parse(vmd, strlen(vmd), &d, &error), 0);
        assert_int_equal(d->n_hostdevs, 1);
        assert_string_equal(d->hostdevs[0], "10000:e1:00.0");
        domain_free(d);
}

static void test_mixed_guest(void **state) {
        (void) state;
        DomainRequest *d = parse_fixture("mixed-rt.xml");
        assert_non_null(d->dedicated_vcpus);
        assert_cpus(d->dedicated_vcpus, "2-3");
        domain_free(d);

        const char *xml =
                "<domain><name>m</name><vcpu>4</vcpu><memory>1024</memory><metadata>"
                "<k:policy xmlns:k='urn:kvmtuned:policy:1' class='mix' dedicated-vcpus='0-1'/></metadata></domain>";
        char *error = NULL;
        assert_int_equal(domain_parse(xml, strlen(xml), &d, &error), 0);
        assert_string_equal(d->metadata_class, "mix");
        assert_cpus(d->dedicated_vcpus, "0-1");
        domain_free(d);

        /* libvirt accepts <vcpusched> over every vCPU up to <vcpu>, online at start or not:
         * those that are not are left out, those beyond <vcpu> are an error. */
        const char *hotplug = "<domain><name>h</name><vcpu current='2'>4</vcpu><memory>1024</memory>"
                              "<cputune><vcpusched vcpus='1-3' scheduler='fifo' priority='1'/></cputune></domain>";
        assert_int_equal(domain_parse(hotplug, strlen(hotplug), &d, &error), 0);
        assert_cpus(d->dedicated_vcpus, "1");
        domain_free(d);
        char *why = parse_error_of("<domain><name>h</name><vcpu current='2'>4</vcpu><memory>1024</memory>"
                                   "<cputune><vcpusched vcpus='4' scheduler='fifo' priority='1'/></cputune></domain>");
        assert_non_null(strstr(why, "dedicated vCPUs name vCPU 4, but the domain has 4"));
        free(why);
}

/* A hugepage-backed domain needs pages for all of <memory>, whatever <currentMemory> says. */
static void test_hugepages_back_all_memory(void **state) {
        (void) state;
#define SIZES                                                                                                          \
        "<domain><name>b</name><vcpu>1</vcpu><memory unit='GiB'>8</memory><currentMemory unit='GiB'>4</currentMemory>"
        const char *backed = SIZES "<memoryBacking><hugepages/></memoryBacking></domain>", *plain = SIZES "</domain>";
#undef SIZES
        DomainRequest *d = NULL;
        char *error = NULL;
        assert_int_equal(domain_parse(backed, strlen(backed), &d, &error), 0);
        assert_int_equal(d->memory_kib, 8ULL * 1024 * 1024);
        domain_free(d);
        assert_int_equal(domain_parse(plain, strlen(plain), &d, &error), 0);
        assert_int_equal(d->memory_kib, 4ULL * 1024 * 1024);
        domain_free(d);
}

static void test_units(void **state) {
        (void) state;
        struct {
                const char *memory;
                uint64_t kib;
        } cases[] = {
                { "<memory>1048576</memory>", 1048576 },
                { "<memory unit='KiB'>2048</memory>", 2048 },
                { "<memory unit='MiB'>512</memory>", 512 * 1024 },
                { "<memory unit='G'>2</memory>", 2 * 1024 * 1024 },
                { "<memory unit='GB'>1</memory>", 976563 }, /* libvirt rounds up to KiB */
                { "<memory unit='b'>1048576</memory>", 1024 },
                { "<memory unit='MiB'>4096</memory><currentMemory unit='MiB'>1024</currentMemory>", 1024 * 1024 },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char xml[512];
                snprintf(xml, sizeof(xml), "<domain><name>u</name><vcpu>1</vcpu>%s</domain>", cases[i].memory);
                DomainRequest *d = NULL;
                char *error = NULL;
                assert_int_equal(domain_parse(xml, strlen(xml), &d, &error), 0);
                assert_int_equal(d->memory_kib, cases[i].kib);
                domain_free(d);
        }
}

static void test_broken(void **state) {
        (void) state;
        char *xml = NULL;
        assert_int_equal(kfile_read(KVMTUNED_FIXTURES "/domains", "broken-unclosed.xml", &xml), 0);
        char *e = parse_error_of(xml);
        assert_non_null(strstr(e, "line 6:"));
        free(e);
        free(xml);

        struct {
                const char *xml, *want;
        } cases[] = {
                { "", "line" },
                { "<notadomain/>", "not a libvirt domain: the root element is not <domain>" },
                { "<domain><vcpu>1</vcpu><memory>1</memory></domain>", "the domain has no <name>" },
                { "<domain><name>x</name><vcpu>0</vcpu><memory>1</memory></domain>", "<vcpu> must be at least 1: 0" },
                { "<domain><name>x</name><vcpu>lots</vcpu><memory>1</memory></domain>",
                  "<vcpu> is not a number: lots" },
                { "<domain><name>x</name><vcpu>-1</vcpu><memory>1</memory></domain>", "<vcpu> is not a number" },
                { "<domain><name>x</name><vcpu>99999</vcpu><memory>1</memory></domain>",
                  "<vcpu> must be at most 16384: 99999" },
                { "<domain><name>x</name><vcpu current='0'>2</vcpu><memory>1</memory></domain>",
                  "<vcpu current=> must be at least 1: 0" },
                { "<domain><name>x</name><vcpu>1</vcpu></domain>", "the domain has no <memory> size" },
                /* libvirt: "Memory size must be specified via <memory> or in the <numa> configuration" */
                { "<domain><name>x</name><vcpu>1</vcpu><currentMemory>1024</currentMemory></domain>",
                  "the domain has no <memory> size" },
                { "<domain><name>x</name><vcpu>1</vcpu><memory> -5</memory></domain>",
                  "<memory> is not a number:  -5" },
                { "<domain><name>x</name><vcpu>1</vcpu><memory unit='TiB'>9000000</memory></domain>",
                  "<memory> is more than libvirt accepts (8 EiB): 9000000 TiB" },
                { "<domain><name>x</name><vcpu>1</vcpu><memory unit='b'>18446744073709551615</memory></domain>",
                  "<memory> is more than libvirt accepts (8 EiB): 18446744073709551615 b" },
                { "<domain><name>x</name><vcpu>1</vcpu><memory unit='parsecs'>1</memory></domain>",
                  "<memory> has an unknown unit: parsecs" },
                { "<domain><name>x</name><vcpu>1</vcpu><memory>1</memory><cputune><vcpupin vcpu='0' "
                  "cpuset='3-1'/></cputune></domain>",
                  "cpuset '3-1': range runs backwards" },
                { "<domain><name>x</name><vcpu>2</vcpu><memory>1</memory><metadata><k:policy "
                  "xmlns:k='urn:kvmtuned:policy:1' dedicated-vcpus='5'/></metadata></domain>",
                  "dedicated vCPUs name vCPU 5, but the domain has 2" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                e = parse_error_of(cases[i].xml);
                if (!strstr(e, cases[i].want)) {
                        print_error("case %zu: want '%s', got '%s'\n", i, cases[i].want, e);
                        fail();
                }
                free(e);
        }
}

/* Entity expansion and external entities are refused, whatever libxml2 would otherwise do. */
static void test_hostile(void **state) {
        (void) state;
        char *xml = NULL;
        assert_int_equal(kfile_read(KVMTUNED_FIXTURES "/domains", "hostile-entities.xml", &xml), 0);
        char *e = parse_error_of(xml);
        print_message("entity bomb: %s\n", e);
        free(e);
        free(xml);

        const char *xxe = "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
                          "<domain><name>&x;</name><vcpu>1</vcpu><memory>1</memory></domain>";
        e = parse_error_of(xxe);
        assert_string_equal(e, "domain XML must not contain a DOCTYPE");
        free(e);

        /* Larger than any real domain XML: refused before parsing. */
        size_t big = DOMAIN_XML_MAX + 1;
        char *huge = malloc(big + 1);
        memset(huge, ' ', big);
        huge[big] = '\0';
        DomainRequest *d = NULL;
        assert_int_equal(domain_parse(huge, big, &d, &e), -EINVAL);
        assert_string_equal(e, "domain XML is larger than 4 MiB");
        free(e);
        free(huge);
}

/* Parses a domain made of a fixed head and body; asserts it parses. */
static DomainRequest *parse_ok(const char *body) {
        char xml[2048];
        snprintf(xml, sizeof(xml), "<domain><name>n</name>%s</domain>", body);
        DomainRequest *d = NULL;
        char *error = NULL;
        int r = domain_parse(xml, strlen(xml), &d, &error);
        if (r < 0)
                print_error("%s: %s\n", body, error);
        assert_int_equal(r, 0);
        return d;
}

static char *parse_error_of_body(const char *body) {
        char xml[2048];
        snprintf(xml, sizeof(xml), "<domain><name>n</name>%s</domain>", body);
        return parse_error_of(xml);
}

/* libvirt reads every count in base 10 (virXPathUInt, virXMLPropUInt: virStrToLong_uip), skips
 * leading blanks, takes a '+', refuses a '-', a 0x prefix and anything after the digits. */
static void test_numbers_like_libvirt(void **state) {
        (void) state;
        DomainRequest *d = parse_ok("<vcpu>010</vcpu><memory>1024</memory>");
        assert_int_equal(d->max_vcpus, 10);
        assert_int_equal(d->vcpus, 10);
        domain_free(d);
        d = parse_ok("<vcpu current='010'>\n 12</vcpu><memory> 1024</memory>");
        assert_int_equal(d->max_vcpus, 12);
        assert_int_equal(d->vcpus, 10);
        assert_int_equal(d->memory_kib, 1024);
        domain_free(d);
        d = parse_ok("<vcpu>+2</vcpu><memory>1024</memory>");
        assert_int_equal(d->max_vcpus, 2);
        domain_free(d);
        /* No <vcpu>: libvirt's virDomainVcpuParse gives the domain one. */
        d = parse_ok("<memory>1024</memory>");
        assert_int_equal(d->max_vcpus, 1);
        assert_int_equal(d->vcpus, 1);
        domain_free(d);
        d = parse_ok("<vcpu>16</vcpu><memory>1024</memory><iothreads>010</iothreads>"
                     "<iothreadids><iothread id='010'/></iothreadids>"
                     "<memoryBacking><hugepages><page size='02048' unit='KiB'/></hugepages></memoryBacking>"
                     "<cpu><topology sockets='1' cores='8' threads='02'/>"
                     "<numa><cell id='010' cpus='0-15' memory='010' unit='MiB'/></numa></cpu>"
                     "<cputune><vcpupin vcpu='015' cpuset='1'/></cputune>");
        assert_int_equal(d->n_iothreads, 10);
        assert_int_equal(d->iothread_ids[0], 10);
        assert_int_equal(d->hugepage_kib, 2048);
        assert_int_equal(d->guest_threads, 2);
        assert_int_equal(d->cells[0].id, 10);
        assert_int_equal(d->cells[0].memory_kib, 10 * 1024);
        domain_free(d);

        struct {
                const char *body, *want;
        } bad[] = {
                { "<vcpu>0x8</vcpu><memory>1</memory>", "<vcpu> is not a number: 0x8" },
                { "<vcpu>0</vcpu><memory>1</memory>", "<vcpu> must be at least 1: 0" },
                { "<vcpu>4 </vcpu><memory>1</memory>", "<vcpu> is not a number: 4 " },
                { "<vcpu>-0</vcpu><memory>1</memory>", "<vcpu> is not a number: -0" },
                { "<vcpu current='5'>4</vcpu><memory>1</memory>", "<vcpu current=> must be at most 4: 5" },
                { "<vcpu>1</vcpu><memory>0x10</memory>", "<memory> is not a number: 0x10" },
                { "<vcpu>1</vcpu><memory>1</memory><iothreadids><iothread id='0'/></iothreadids>",
                  "<iothread id=> must be at least 1: 0" },
                { "<vcpu>1</vcpu><memory>1</memory><cpu><topology threads='0'/></cpu>",
                  "<topology threads=> must be at least 1: 0" },
                { "<vcpu>2</vcpu><memory>1</memory><cputune><vcpupin vcpu='0x1' cpuset='1'/></cputune>",
                  "<vcpupin vcpu=> is not a number: 0x1" },
                { "<vcpu>2</vcpu><memory>1</memory><cputune><vcpupin vcpu='2' cpuset='1'/></cputune>",
                  "<vcpupin vcpu=> must be at most 1: 2" },
                { "<vcpu>1</vcpu><memory>1</memory><memoryBacking><hugepages><page size='0x800'/>"
                  "</hugepages></memoryBacking>",
                  "<page size=> is not a number: 0x800" },
                { "<vcpu>1</vcpu><memory>1</memory><cpu><numa><cell id='08' cpus='0' memory='1'/>"
                  "<cell id='0x1' cpus='0' memory='1'/></numa></cpu>",
                  "<cell id=> is not a number: 0x1" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *e = parse_error_of_body(bad[i].body);
                if (strcmp(e, bad[i].want) != 0) {
                        print_error("case %zu: want '%s', got '%s'\n", i, bad[i].want, e);
                        fail();
                }
                free(e);
        }
}

/* libvirt's units (virScaleInteger): any case, P and E too, powers of 1000 for xB; the amount is
 * rounded up to KiB (virDomainParseMemory) and must fit in a long long of bytes. */
static void test_units_like_libvirt(void **state) {
        (void) state;
        struct {
                const char *memory;
                uint64_t kib;
        } cases[] = {
                { "<memory unit='PiB'>1</memory>", 1ULL << 40 },
                { "<memory unit='P'>2</memory>", 2ULL << 40 },
                { "<memory unit='PB'>1</memory>", 1000000000000000ULL / 1024 },
                { "<memory unit='EiB'>7</memory>", 7ULL << 50 },
                { "<memory unit='E'>1</memory>", 1ULL << 50 },
                { "<memory unit='EB'>1</memory>", 1000000000000000000ULL / 1024 },
                { "<memory unit='gib'>1</memory>", 1ULL << 20 },
                { "<memory unit='kb'>2048</memory>", 2000 },
                { "<memory unit='BYTES'>1</memory>", 1 }, /* rounded up */
                { "<memory unit='GB'>1</memory>", 976563 },
                { "<memory unit=''>64</memory>", 64 },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char body[256];
                snprintf(body, sizeof(body), "<vcpu>1</vcpu>%s", cases[i].memory);
                DomainRequest *d = parse_ok(body);
                if (d->memory_kib != cases[i].kib) {
                        print_error("case %zu: want %" PRIu64 " KiB, got %" PRIu64 "\n", i, cases[i].kib,
                                    d->memory_kib);
                        fail();
                }
                domain_free(d);
        }
        struct {
                const char *memory, *want;
        } bad[] = {
                { "<memory unit='EiB'>8</memory>", "<memory> is more than libvirt accepts (8 EiB): 8 EiB" },
                { "<memory unit='PiB'>8192</memory>", "<memory> is more than libvirt accepts (8 EiB): 8192 PiB" },
                { "<memory unit='EB'>20000</memory>", "<memory> is more than libvirt accepts (8 EiB): 20000 EB" },
                { "<memory>18446744073709551615</memory>",
                  "<memory> is more than libvirt accepts (8 EiB): 18446744073709551615 KiB" },
                { "<memory>18446744073709551616</memory>", "<memory> is not a number: 18446744073709551616" },
                { "<memory unit='ZiB'>1</memory>", "<memory> has an unknown unit: ZiB" },
                { "<memory unit='KiBB'>1</memory>", "<memory> has an unknown unit: KiBB" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char body[256];
                snprintf(body, sizeof(body), "<vcpu>1</vcpu>%s", bad[i].memory);
                char *e = parse_error_of_body(body);
                if (strcmp(e, bad[i].want) != 0) {
                        print_error("case %zu: want '%s', got '%s'\n", i, bad[i].want, e);
                        fail();
                }
                free(e);
        }
}

/* A balloon can grow the guest back to <memory>: a strict binding must book that. */
static void test_max_memory(void **state) {
        (void) state;
        DomainRequest *d = parse_ok("<vcpu>1</vcpu><memory unit='GiB'>8</memory><currentMemory unit='GiB'>4"
                                    "</currentMemory>");
        assert_int_equal(d->memory_kib, 4ULL << 20);
        assert_int_equal(d->max_memory_kib, 8ULL << 20);
        domain_free(d);
        d = parse_ok("<vcpu>1</vcpu><memory unit='GiB'>8</memory><currentMemory unit='GiB'>4</currentMemory>"
                     "<memoryBacking><hugepages/></memoryBacking>");
        assert_int_equal(d->memory_kib, 8ULL << 20);
        assert_int_equal(d->max_memory_kib, 8ULL << 20);
        domain_free(d);
        d = parse_ok("<vcpu>1</vcpu><memory unit='GiB'>2</memory>");
        assert_int_equal(d->memory_kib, 2ULL << 20);
        assert_int_equal(d->max_memory_kib, 2ULL << 20);
        domain_free(d);
        /* libvirt takes a <currentMemory> of 0 or above <memory> as <memory> (domain_postparse.c). */
        d = parse_ok("<vcpu>1</vcpu><memory unit='GiB'>2</memory><currentMemory unit='GiB'>3</currentMemory>");
        assert_int_equal(d->memory_kib, 2ULL << 20);
        assert_int_equal(d->max_memory_kib, 2ULL << 20);
        domain_free(d);
        d = parse_ok("<vcpu>1</vcpu><memory unit='GiB'>2</memory><currentMemory>0</currentMemory>");
        assert_int_equal(d->memory_kib, 2ULL << 20);
        domain_free(d);
        /* Guest NUMA cells with memory set the total, as in libvirt (virDomainDefPostParseMemory):
         * with <memory> saying otherwise, and without <memory> at all. */
        const char *cells = "<cpu><numa><cell id='0' cpus='0' memory='3' unit='GiB'/>"
                            "<cell id='1' cpus='1' memory='1' unit='GiB'/></numa></cpu>";
        char body[512];
        snprintf(body, sizeof(body), "<vcpu>2</vcpu><memory unit='GiB'>2</memory>%s", cells);
        d = parse_ok(body);
        assert_int_equal(d->max_memory_kib, 4ULL << 20);
        assert_int_equal(d->memory_kib, 4ULL << 20);
        domain_free(d);
        snprintf(body, sizeof(body), "<vcpu>2</vcpu>%s", cells);
        d = parse_ok(body);
        assert_int_equal(d->memory_kib, 4ULL << 20);
        domain_free(d);
}

/* An <emulatorpin> alone (VFIO guides) pins no vCPU: kvmtuned still places the vCPUs. */
static void test_emulatorpin_alone(void **state) {
        (void) state;
        DomainRequest *d = parse_ok("<vcpu>4</vcpu><memory>1024</memory><cputune><emulatorpin cpuset='0-1'/>"
                                    "</cputune>");
        assert_false(d->explicit_pins);
        assert_non_null(d->emulator_pins);
        assert_cpus(d->emulator_pins, "0-1");
        assert_cpus(d->pinned_cpus, "0-1");
        assert_true(hwloc_bitmap_iszero(d->pinned_nodes));
        domain_free(d);

        d = parse_ok("<vcpu>4</vcpu><memory>1024</memory>");
        assert_non_null(d->emulator_pins);
        assert_true(hwloc_bitmap_iszero(d->emulator_pins));
        domain_free(d);

        /* Anything else the XML pins still makes the pins explicit. */
        static const char *const pinned[] = {
                "<vcpu>4</vcpu><memory>1</memory><cputune><vcpupin vcpu='0' cpuset='4'/>"
                "<emulatorpin cpuset='0-1'/></cputune>",
                "<vcpu cpuset='4-7'>4</vcpu><memory>1</memory><cputune><emulatorpin cpuset='0-1'/></cputune>",
                "<vcpu>4</vcpu><memory>1</memory><iothreads>1</iothreads><cputune>"
                "<iothreadpin iothread='1' cpuset='4'/><emulatorpin cpuset='0-1'/></cputune>",
                "<vcpu>4</vcpu><memory>1</memory><cputune><emulatorpin cpuset='0-1'/></cputune>"
                "<numatune><memory nodeset='0'/></numatune>",
        };
        for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
                d = parse_ok(pinned[i]);
                if (!d->explicit_pins) {
                        print_error("case %zu: not explicit\n", i);
                        fail();
                }
                assert_cpus(d->emulator_pins, "0-1");
                assert_true(hwloc_bitmap_isincluded(d->emulator_pins, d->pinned_cpus));
                domain_free(d);
        }
        d = parse_ok("<vcpu>4</vcpu><memory>1</memory><cputune><vcpupin vcpu='0' cpuset='4'/>"
                     "<emulatorpin cpuset='0-1'/></cputune>");
        assert_cpus(d->pinned_cpus, "0-1,4");
        domain_free(d);
}

/* <numatune><memory>'s mode, strict when it names none (numa_conf.c: virDomainNumatuneSet). */
static void test_numatune_mode(void **state) {
        (void) state;
        struct {
                const char *numatune, *mode;
        } cases[] = {
                { "", NULL },
                { "<numatune><memory nodeset='0'/></numatune>", "strict" },
                { "<numatune><memory mode='strict' nodeset='0'/></numatune>", "strict" },
                { "<numatune><memory mode='preferred' nodeset='1'/></numatune>", "preferred" },
                { "<numatune><memory mode='interleave' nodeset='0-1'/></numatune>", "interleave" },
                { "<numatune><memory mode='restrictive' nodeset='0'/></numatune>", "restrictive" },
                { "<numatune><memory placement='auto'/></numatune>", "strict" },
                { "<numatune><memnode cellid='0' mode='preferred' nodeset='0'/></numatune>", NULL },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char body[512];
                snprintf(body, sizeof(body), "<vcpu>1</vcpu><memory>1024</memory>%s", cases[i].numatune);
                DomainRequest *d = parse_ok(body);
                if (cases[i].mode)
                        assert_string_equal(d->numatune_mode, cases[i].mode);
                else
                        assert_null(d->numatune_mode);
                domain_free(d);
        }
        DomainRequest *d = parse_ok("<vcpu>1</vcpu><memory>1</memory><numatune><memory placement='auto'/>"
                                    "</numatune>");
        assert_false(d->explicit_pins); /* numad's choice is not a pin */
        domain_free(d);
        char *e = parse_error_of_body("<vcpu>1</vcpu><memory>1</memory><numatune><memory mode='bind' "
                                      "nodeset='0'/></numatune>");
        assert_string_equal(e, "<numatune><memory mode=> is not strict, preferred, interleave or restrictive: bind");
        free(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_windows_guest),
                cmocka_unit_test(test_nova_pinned_guest),
                cmocka_unit_test(test_hugepage_guest),
                cmocka_unit_test(test_hostdev_gaming_guest),
                cmocka_unit_test(test_mixed_guest),
                cmocka_unit_test(test_hugepages_back_all_memory),
                cmocka_unit_test(test_units),
                cmocka_unit_test(test_broken),
                cmocka_unit_test(test_hostile),
                cmocka_unit_test(test_numbers_like_libvirt),
                cmocka_unit_test(test_units_like_libvirt),
                cmocka_unit_test(test_max_memory),
                cmocka_unit_test(test_emulatorpin_alone),
                cmocka_unit_test(test_numatune_mode),
        };
        return cmocka_run_group_tests_name("domain", tests, NULL, NULL);
}
