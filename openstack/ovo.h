/* Nova versioned objects (oslo.versionedobjects primitives) as jansson
 * values.
 *
 * A primitive is {"nova_object.name", "nova_object.namespace": "nova",
 * "nova_object.version", "nova_object.data": {set fields},
 * "nova_object.changes": [dirty fields]}.  Only set fields are present;
 * `changes` decides what an object_action writes.  We never send a version
 * newer than Zed knows (protocol.md, Appendix A): a too-new object wedges
 * nova-conductor in object_backport_versions.
 *
 * Thread: every function is reentrant; a json_t is not shared between
 * threads without the caller's own locking.
 */
#ifndef SC_OPENSTACK_OVO_H
#define SC_OPENSTACK_OVO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct err;

/* The highest version Zed knows of object `name`, or NULL when Zed has no
 * such object. */
const char *ovo_zed_version(const char *name);

/* Compare "X.Y" versions (a third component is ignored, as oslo truncates
 * it): <0, 0, >0.  Unparsable versions compare as 0.0. */
int ovo_version_cmp(const char *a, const char *b);

/* Parse "X.Y" into its parts.  Returns 0 or -1 when not two (or three)
 * dot-separated non-negative integers. */
int ovo_version_parse(const char *v, int *major, int *minor);

/* A new empty primitive of `name` at its Zed version (empty data and
 * changes).  Aborts if Zed has no such object: a programming error.
 * Caller owns the reference. */
json_t *ovo_new(const char *name);

/* Is `v` a nova_object primitive (right keys and namespace)?  When `name`
 * is not NULL the object name must match too. */
bool ovo_is(const json_t *v, const char *name);

/* Check a received primitive and every object nested in it: namespace
 * "nova", a known name, a version not newer than Zed's (older is fine:
 * fields added later stay unset), `data` an object.  `name`, when not
 * NULL, is the expected top-level class.  Returns 0 or -1 with *err
 * (ERR_INVALID for a malformed object, ERR_UNSUPPORTED for a newer
 * version). */
int ovo_validate(const json_t *v, const char *name, struct err **err);

const char *ovo_name(const json_t *prim);
const char *ovo_version(const json_t *prim);
/* The data object (borrowed; NULL when absent). */
json_t *ovo_data(const json_t *prim);

/* Borrowed field value; NULL when unset.  A JSON null is returned as the
 * json null value (use json_is_null). */
json_t *ovo_get(const json_t *prim, const char *field);
/* String field, or NULL when unset, null or not a string. */
const char *ovo_get_str(const json_t *prim, const char *field);
/* Integer field: true and *out set when set to an integer. */
bool ovo_get_int(const json_t *prim, const char *field, int64_t *out);
bool ovo_get_bool(const json_t *prim, const char *field, bool *out);

/* Set a field and record it in `changes` (once).  Steals `value`. */
void ovo_set(json_t *prim, const char *field, json_t *value);
void ovo_set_str(json_t *prim, const char *field, const char *s); /* NULL -> null */
void ovo_set_int(json_t *prim, const char *field, int64_t v);
/* Mark a field dirty without changing it. */
void ovo_mark_changed(json_t *prim, const char *field);
/* Empty `changes` here and in nested objects (after a save was applied). */
void ovo_clear_changes(json_t *prim);

/* Apply the `updates` dict of an object_action reply (every field whose
 * value changed on the server) onto `prim`; `obj_what_changed` is skipped.
 * Returns 0 or -1 with *err when `updates` is not an object. */
int ovo_apply_updates(json_t *prim, const json_t *updates, struct err **err);

/* DateTime fields: output "YYYY-MM-DDTHH:MM:SSZ" (UTC) into buf (>= 21
 * bytes) for the Unix time `t`; returns buf. */
char *ovo_datetime_format(int64_t t, char *buf, int size);
/* Parse ISO 8601 as Nova accepts it (fraction optional, "Z" or "+hh:mm",
 * naive = UTC) into Unix seconds.  Returns 0 or -1. */
int ovo_datetime_parse(const char *s, int64_t *out);

/* A wrapped-list object (InstanceList, TagList...): its "objects" array
 * (borrowed), or NULL. */
json_t *ovo_list_objects(const json_t *prim);

#endif
