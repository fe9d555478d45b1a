// jschema.h: the JSON Schema subset checker of the json codec.
#ifndef DTSI_JSCHEMA_H
#define DTSI_JSCHEMA_H
#include <jansson.h>
#include <stddef.h>
// dtsi_jschema_check checks value against schema; returns 0, or -1 with
// "PATH: what is wrong" in err ("$.celsius: above the maximum 100").
int dtsi_jschema_check(const json_t *value, const json_t *schema, char *err, size_t errcap);
// dtsi_jschema_valid checks that the supported keywords of schema have the
// forms they need (a known type name, numeric bounds, arrays of schemas);
// returns 0, or -1 with "PATH: what is wrong" in err.
int dtsi_jschema_valid(const json_t *schema, char *err, size_t errcap);
#endif
