/* The generic protobuf <-> JSON codec of the gateway, driven by protobuf-c's descriptors (pure). */
#ifndef LKV_GATEWAY_JSON_PB_H
#define LKV_GATEWAY_JSON_PB_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The JSON mapping grpc-gateway's JSONPb marshaler gives with OrigName and without EmitDefaults (what etcd
 * 3.4's gateway uses): field names as in the .proto; fields at their default value (0, "", empty bytes,
 * false, the first enum value, an empty list, an unset message) left out, a oneof member written when set;
 * bytes in standard base64; 64-bit integers as decimal strings, 32-bit ones as numbers; enums by name.
 * Decoding accepts what jsonpb accepts: the .proto name or its lowerCamelCase form, integers as numbers or
 * strings, bytes in standard or URL-safe base64 (with or without padding), enums by name or number, null
 * for "not set"; a field the message does not have is ignored, as etcd 3.4's gateway does.
 */

/* Renders the message of type desc packed in pb (len bytes) as JSON text. Returns 0 and sets *out
 * (malloc'd, NUL-terminated, owned by the caller) and *out_len, or LKV_EPROTO (pb is not a valid message of
 * that type) or LKV_ENOMEM. */
int lkv_json_pb_render(const ProtobufCMessageDescriptor *desc, const uint8_t *pb, size_t len, char **out,
                       size_t *out_len);

/* Parses one JSON object of type desc from json (len bytes, not NUL-terminated) and packs it. Parsing starts
 * at the first non-space byte and stops after the object: *used tells how many bytes it consumed (the
 * caller may find further objects after it). Returns 0 and sets *pb (malloc'd, owned by the caller; NULL
 * with *pb_len 0 for an empty message) and *pb_len; or LKV_EINVAL with a reason in err (cap bytes, NUL-
 * terminated) for text that is not JSON or does not fit the type; or LKV_ENOMEM. */
int lkv_json_pb_parse(const ProtobufCMessageDescriptor *desc, const char *json, size_t len, size_t *used,
                      uint8_t **pb, size_t *pb_len, char *err, size_t cap);

#endif
