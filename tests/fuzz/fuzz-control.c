/* Fuzzes control requests: a line parsed as daemon/control.c does, the json-field.h reads, the hook's admission. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "domain.h"
#include "fuzz.h"
#include "json-field.h"
#include "macro.h"
#include "planner.h"
#include "render.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_config();
        return 0;
}

/* daemon/hook.c's reply. */
static json_object *hook_reply(bool allow, const char *message) {
        json_object *o = json_object_new_object();
        assert_true(o);
        json_object_object_add(o, "allow", json_object_new_boolean(allow));
        if (message)
                json_object_object_add(o, "message", json_object_new_string(message));
        return o;
}

/* hook_prepare() without the Manager: the XML parsed as the hook sends it (up to its first NUL),
 * planned on an empty host, refused with one line or admitted, and released again. */
static json_object *hook_prepare(const char *name, const char *xml) {
        _cleanup_(domain_freep) DomainRequest *req = NULL;
        _cleanup_free_ char *error = NULL;
        int r = domain_parse(xml, strlen(xml), &req, &error);
        assert_true(r == 0 || r == -EINVAL);
        if (r < 0) {
                assert_true(error);
                return hook_reply(true, NULL); /* libvirt will say what is wrong with it */
        }
        _cleanup_(planner_freep) Planner *p = NULL;
        assert_true(planner_new(fuzz_topology(), fuzz_config(), &p) == 0);
        const Placement *pl = NULL;
        assert_true(planner_place(p, req, &pl) == 0);
        if (!pl->admitted) {
                assert_true(pl->reason);
                _cleanup_free_ char *message = NULL;
                assert_true(asprintf(&message, "kvmtuned: %s refused: %s", name, pl->reason) > 0);
                assert_true(planner_release(p, req->name) == 0);
                return hook_reply(false, message);
        }
        assert_true(planner_release(p, req->name) == 0);
        return hook_reply(true, NULL);
}

/* hook_release(): whatever prepare reserved is owned by the domain's uuid, else its name. */
static json_object *hook_release(const char *name, const char *xml) {
        _cleanup_(domain_freep) DomainRequest *req = NULL;
        _cleanup_free_ char *error = NULL;
        const char *owner = name;
        if (domain_parse(xml, strlen(xml), &req, &error) == 0 && req->uuid)
                owner = req->uuid;
        assert_true(owner);
        return hook_reply(true, NULL);
}

/* hook_handle(). */
static json_object *hook_handle(json_object *request) {
        const char *name = json_field_string(request, "domain");
        const char *op = json_field_string(request, "op"), *subop = json_field_string(request, "subop");
        const char *xml = json_field_string(request, "xml");
        if (!name || !op || !subop || !xml)
                return control_error("hook needs domain, op, subop and xml strings");
        if (strcmp(op, "prepare") == 0 && strcmp(subop, "begin") == 0)
                return hook_prepare(name, xml);
        if (strcmp(op, "release") == 0 && strcmp(subop, "end") == 0)
                return hook_release(name, xml);
        return hook_reply(true, NULL);
}

/* daemon/manager.c's on_control() for what does not need the Manager's state: the other
 * commands answer with an empty object here. */
static json_object *on_control(const ControlRequest *req) {
        if (strcmp(req->command, "explain") == 0) {
                const char *name = json_field_string(req->request, "domain");
                if (!name)
                        return control_error("explain needs a domain name");
                return control_error("no domain called %s is managed", name);
        }
        if (strcmp(req->command, "reload") == 0 && req->uid != 0)
                return control_error("reload: permission denied (root only)");
        if (strcmp(req->command, "hook") == 0)
                return req->uid != 0 ? control_error("hook: permission denied (root only)") : hook_handle(req->request);
        if (strcmp(req->command, "status") == 0 || strcmp(req->command, "domains") == 0 ||
            strcmp(req->command, "stats") == 0 || strcmp(req->command, "reload") == 0)
                return json_object_new_object();
        return control_error("unknown command %s", req->command);
}

/* on_hook_socket(): the hook's own socket answers hook requests only. */
static json_object *on_hook_socket(const ControlRequest *req) {
        if (strcmp(req->command, "hook") != 0)
                return control_error("this socket answers the libvirt hook only; %s goes to the control socket",
                                     req->command);
        return on_control(req);
}

/* control.c's dispatch(): the request buffer is a C string, what follows its first NUL is never seen. */
static void dispatch(const char *line, json_object *(*handler)(const ControlRequest *req), uid_t uid) {
        json_object *req = json_tokener_parse(line);
        const char *command = json_field_string(req, "command");
        json_object *answer;
        if (!command)
                answer = control_error("malformed request: expected {\"command\": ...}");
        else
                answer = handler(&(ControlRequest){ .command = command, .request = req, .uid = uid, .pid = 1 });
        assert_true(answer);

        /* The reply is one line of JSON, which kvmtunectl reads back. */
        const char *s = json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        assert_true(s && !strchr(s, '\n'));
        _cleanup_(json_object_putp) json_object *back = json_tokener_parse(s);
        assert_true(json_object_is_type(back, json_type_object));
        json_object_put(answer);
        json_object_put(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *line = fuzz_string(data, size);
        dispatch(line, on_control, 0);
        dispatch(line, on_control, 1000);
        dispatch(line, on_hook_socket, 0);
        return 0;
}
