/* Typed look-ups in the JSON kvmtuned reads back: its own state files and control requests. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

/* The member key of o when it has the given type; NULL when o is not an object, or the member
 * is absent, null or of another type. */
static inline json_object *json_field(json_object *o, const char *key, json_type type) {
        json_object *v = NULL;
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
            !json_object_is_type(v, type))
                return NULL;
        return v;
}

/* The string member key of o, or NULL (absent, null or not a string). */
static inline const char *json_field_string(json_object *o, const char *key) {
        json_object *v = json_field(o, key, json_type_string);
        return v ? json_object_get_string(v) : NULL;
}

/* Whether o has an integer member key that is at least min; its value in *ret_value. */
static inline bool json_field_uint(json_object *o, const char *key, uint64_t min, uint64_t *ret_value) {
        json_object *v = json_field(o, key, json_type_int);
        if (!v || json_object_get_int64(v) < 0 || (uint64_t) json_object_get_int64(v) < min)
                return false;
        *ret_value = (uint64_t) json_object_get_int64(v);
        return true;
}
