/* JSON -> protobuf, accepting what jsonpb's Unmarshal accepts (json_pb.h). */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "gateway/internal.h"

typedef struct parse_s {
  char *err;
  size_t cap;
} parse_t;

static int fail(parse_t *ps, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ps->err, ps->cap, fmt, ap);
  va_end(ap);
  return LKV_EINVAL;
}

/* The field named key, by its .proto name or the lowerCamelCase form jsonpb also accepts. */
static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d, const char *key) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
  if (f) return f;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const char *n = d->fields[i].name, *k = key;
    while (*n && *k) {
      if (*n == '_' && n[1]) {
        if (toupper((unsigned char)n[1]) != *k) break;
        n += 2;
      } else if (*n++ != *k) {
        break;
      }
      k++;
    }
    if (!*n && !*k) return &d->fields[i];
  }
  return NULL;
}

/* An integer given as a JSON number or a decimal string (jsonpb takes both for every integer type). */
static int integer(parse_t *ps, json_object *v, const char *name, int is_unsigned, int64_t lo, int64_t hi,
                   uint64_t uhi, uint64_t *out) {
  if (json_object_is_type(v, json_type_string)) {
    const char *s = json_object_get_string(v);
    char *end;
    errno = 0;
    if (is_unsigned) {
      if (*s == '-') return fail(ps, "bad value %s for field %s", s, name);
      *out = strtoull(s, &end, 10);
      if (errno || end == s || *end || *out > uhi) return fail(ps, "bad value \"%s\" for field %s", s, name);
    } else {
      int64_t x = strtoll(s, &end, 10);
      if (errno || end == s || *end || x < lo || x > hi)
        return fail(ps, "bad value \"%s\" for field %s", s, name);
      *out = (uint64_t)x;
    }
    return 0;
  }
  if (json_object_is_type(v, json_type_int)) {
    if (is_unsigned) {
      if (json_object_get_int64(v) < 0) return fail(ps, "bad value for field %s: negative", name);
      *out = json_object_get_uint64(v);
      if (*out > uhi) return fail(ps, "bad value for field %s: out of range", name);
    } else {
      int64_t x = json_object_get_int64(v);
      if (x < lo || x > hi) return fail(ps, "bad value for field %s: out of range", name);
      *out = (uint64_t)x;
    }
    return 0;
  }
  return fail(ps, "bad value for field %s: want an integer", name);
}

static int bytes(parse_t *ps, json_object *v, const char *name, ProtobufCBinaryData *b) {
  static const int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_URLSAFE,
                                 sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                                 sodium_base64_VARIANT_URLSAFE_NO_PADDING};
  if (!json_object_is_type(v, json_type_string)) return fail(ps, "bad value for field %s: want base64", name);
  const char *s = json_object_get_string(v);
  size_t n = (size_t)json_object_get_string_len(v);
  if (n == 0) return 0;
  uint8_t *data = malloc(n);
  if (!data) return LKV_ENOMEM;
  for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
    size_t got;
    if (sodium_base642bin(data, n, s, n, NULL, &got, NULL, variants[i]) == 0) {
      b->data = data;
      b->len = got;
      return 0;
    }
  }
  free(data);
  return fail(ps, "bad value for field %s: illegal base64 data", name);
}

static int fill_message(parse_t *ps, const ProtobufCMessageDescriptor *d, json_object *obj,
                        ProtobufCMessage **out);

/* Stores one JSON value of field f at p (an element for repeated fields). */
static int fill_value(parse_t *ps, const ProtobufCFieldDescriptor *f, json_object *v, void *p) {
  uint64_t u;
  int rc;
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
      if ((rc = integer(ps, v, f->name, 0, INT32_MIN, INT32_MAX, 0, &u)) != 0) return rc;
      *(int32_t *)p = (int32_t)(int64_t)u;
      return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      if ((rc = integer(ps, v, f->name, 1, 0, 0, UINT32_MAX, &u)) != 0) return rc;
      *(uint32_t *)p = (uint32_t)u;
      return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      if ((rc = integer(ps, v, f->name, 0, INT64_MIN, INT64_MAX, 0, &u)) != 0) return rc;
      *(int64_t *)p = (int64_t)u;
      return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      if ((rc = integer(ps, v, f->name, 1, 0, 0, UINT64_MAX, &u)) != 0) return rc;
      *(uint64_t *)p = u;
      return 0;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
      if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        return fail(ps, "bad value for field %s: want a number", f->name);
      if (f->type == PROTOBUF_C_TYPE_FLOAT)
        *(float *)p = (float)json_object_get_double(v);
      else
        *(double *)p = json_object_get_double(v);
      return 0;
    case PROTOBUF_C_TYPE_BOOL:
      if (!json_object_is_type(v, json_type_boolean))
        return fail(ps, "bad value for field %s: want true or false", f->name);
      *(protobuf_c_boolean *)p = json_object_get_boolean(v);
      return 0;
    case PROTOBUF_C_TYPE_ENUM: {
      const ProtobufCEnumValue *ev =
          json_object_is_type(v, json_type_string)
              ? protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, json_object_get_string(v))
          : json_object_is_type(v, json_type_int)
              ? protobuf_c_enum_descriptor_get_value(f->descriptor, json_object_get_int(v))
              : NULL;
      if (!ev)
        return fail(ps, "unknown value %s for enum %s", json_object_to_json_string(v),
                    ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
      *(int *)p = ev->value;
      return 0;
    }
    case PROTOBUF_C_TYPE_STRING: {
      if (!json_object_is_type(v, json_type_string))
        return fail(ps, "bad value for field %s: want a string", f->name);
      char *s = strdup(json_object_get_string(v));
      if (!s) return LKV_ENOMEM;
      *(char **)p = s;
      return 0;
    }
    case PROTOBUF_C_TYPE_BYTES:
      return bytes(ps, v, f->name, p);
    case PROTOBUF_C_TYPE_MESSAGE:
      return fill_message(ps, f->descriptor, v, (ProtobufCMessage **)p);
  }
  return fail(ps, "field %s has an unsupported type", f->name);
}

static int fill_field(parse_t *ps, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_object *v) {
  char *base = (char *)m;
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
    if (*which != 0) return fail(ps, "field %s: another member of its oneof is already set", f->name);
    *which = f->id; /* first: a value filled half-way is then freed with the message */
  }
  if (f->label != PROTOBUF_C_LABEL_REPEATED) {
    int rc = fill_value(ps, f, v, base + f->offset);
    if (rc == 0 && f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
        !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_MESSAGE)
      *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    return rc;
  }
  if (!json_object_is_type(v, json_type_array))
    return fail(ps, "bad value for field %s: want a list", f->name);
  size_t n = json_object_array_length(v);
  if (n == 0) return 0;
  char *items = calloc(n, lkv__json_pb_elem_size(f->type));
  if (!items) return LKV_ENOMEM;
  /* Owned by the message from here on, so that a failure half-way frees what was filled. */
  *(void **)(base + f->offset) = items;
  size_t *count = (size_t *)(base + f->quantifier_offset);
  for (size_t i = 0; i < n; i++) {
    (*count)++; /* first: an element filled half-way is freed with the message (zeroed ones are skipped) */
    int rc = fill_value(ps, f, json_object_array_get_idx(v, i), items + i * lkv__json_pb_elem_size(f->type));
    if (rc != 0) return rc;
  }
  return 0;
}

static int fill_message(parse_t *ps, const ProtobufCMessageDescriptor *d, json_object *obj,
                        ProtobufCMessage **out) {
  if (!json_object_is_type(obj, json_type_object))
    return fail(ps, "bad value for a %s: want a JSON object", d->name);
  ProtobufCMessage *m = malloc(d->sizeof_message);
  if (!m) return LKV_ENOMEM;
  protobuf_c_message_init(d, m);
  *out = m; /* the caller frees it, whole or half-filled */
  json_object_object_foreach(obj, key, v) {
    const ProtobufCFieldDescriptor *f = find_field(d, key);
    /* etcd 3.4's gateway ignores fields the message does not have; null leaves the default */
    if (!f || json_object_is_type(v, json_type_null)) continue;
    int rc = fill_field(ps, m, f, v);
    if (rc != 0) return rc;
  }
  return 0;
}

int lkv_json_pb_parse(const ProtobufCMessageDescriptor *desc, const char *json, size_t len, size_t *used,
                      uint8_t **pb, size_t *pb_len, char *err, size_t cap) {
  parse_t ps = {.err = err, .cap = cap};
  size_t off = 0;
  while (off < len && isspace((unsigned char)json[off])) off++;
  if (off == len || len - off > INT32_MAX) return fail(&ps, "unexpected EOF");
  json_tokener *tok = json_tokener_new();
  if (!tok) return LKV_ENOMEM;
  json_object *obj = json_tokener_parse_ex(tok, json + off, (int)(len - off));
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t end = off + json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  if (!obj) {
    return jerr == json_tokener_continue ? fail(&ps, "unexpected EOF")
                                         : fail(&ps, "invalid JSON: %s", json_tokener_error_desc(jerr));
  }
  ProtobufCMessage *m = NULL;
  int rc = fill_message(&ps, desc, obj, &m);
  json_object_put(obj);
  if (rc == 0) {
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = n ? malloc(n) : NULL;
    if (n && !buf) {
      rc = LKV_ENOMEM;
    } else {
      if (n) protobuf_c_message_pack(m, buf);
      *pb = buf;
      *pb_len = n;
      *used = end;
    }
  }
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}
