/* Protobuf -> JSON, as jsonpb writes it with OrigName and without EmitDefaults (json_pb.h). */
#include <inttypes.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "gateway/internal.h"

static json_object *render_message(const ProtobufCMessage *m);

static json_object *int64_text(int64_t v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%" PRId64, v);
  return json_object_new_string(buf);
}

static json_object *uint64_text(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%" PRIu64, v);
  return json_object_new_string(buf);
}

static json_object *base64(const ProtobufCBinaryData *b) {
  size_t cap = sodium_base64_encoded_len(b->len, sodium_base64_VARIANT_ORIGINAL);
  char *text = malloc(cap);
  if (!text) return NULL;
  sodium_bin2base64(text, cap, b->data, b->len, sodium_base64_VARIANT_ORIGINAL);
  json_object *o = json_object_new_string(text);
  free(text);
  return o;
}

/* jsonpb names an enum value it knows and writes the number of one it does not. */
static json_object *enum_name(const ProtobufCEnumDescriptor *d, int v) {
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
  return ev ? json_object_new_string(ev->name) : json_object_new_int(v);
}

/* One value of field f stored at p (an element for repeated fields). */
static json_object *render_value(const ProtobufCFieldDescriptor *f, const void *p) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
      return json_object_new_int(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      return json_object_new_int64(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      return int64_text(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      return uint64_text(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
      return json_object_new_double(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
      return json_object_new_double(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
      return json_object_new_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM:
      return enum_name(f->descriptor, *(const int *)p);
    case PROTOBUF_C_TYPE_STRING: {
      const char *s = *(char *const *)p;
      return json_object_new_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES:
      return base64(p);
    case PROTOBUF_C_TYPE_MESSAGE: {
      const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
      return sub ? render_message(sub) : json_object_new_object();
    }
  }
  return NULL;
}

size_t lkv__json_pb_elem_size(ProtobufCType t) {
  switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
      return 8;
    case PROTOBUF_C_TYPE_BOOL:
      return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
      return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
      return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
      return sizeof(ProtobufCBinaryData);
    default:
      return 4;
  }
}

/* Whether a proto3 field without presence holds its type's default (jsonpb leaves those out). */
static int is_default(const ProtobufCFieldDescriptor *f, const void *p) {
  static const uint8_t zero[sizeof(ProtobufCBinaryData)];
  switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
      const char *s = *(char *const *)p;
      return !s || !*s;
    }
    case PROTOBUF_C_TYPE_BYTES:
      return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
      return *(void *const *)p == NULL;
    case PROTOBUF_C_TYPE_FLOAT:
      return *(const float *)p == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
      return *(const double *)p == 0;
    default:
      return memcmp(p, zero, lkv__json_pb_elem_size(f->type)) == 0;
  }
}

/* Whether field f of m is written, as jsonpb decides without EmitDefaults. */
static int is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  const char *base = (const char *)m;
  const void *p = base + f->offset;
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
    return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
  if (f->label == PROTOBUF_C_LABEL_REPEATED) return *(const size_t *)(base + f->quantifier_offset) > 0;
  if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset && f->type != PROTOBUF_C_TYPE_STRING &&
      f->type != PROTOBUF_C_TYPE_MESSAGE)
    return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
  return !is_default(f, p);
}

static json_object *render_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  const char *base = (const char *)m;
  if (f->label != PROTOBUF_C_LABEL_REPEATED) return render_value(f, base + f->offset);
  size_t n = *(const size_t *)(base + f->quantifier_offset);
  const char *items = *(char *const *)(base + f->offset);
  json_object *arr = json_object_new_array_ext((int)n);
  if (!arr) return NULL;
  for (size_t i = 0; i < n; i++) {
    json_object *v = render_value(f, items + i * lkv__json_pb_elem_size(f->type));
    if (!v || json_object_array_add(arr, v) != 0) {
      json_object_put(v);
      json_object_put(arr);
      return NULL;
    }
  }
  return arr;
}

/* Fields in declaration order, as jsonpb walks the Go struct (protobuf-c keeps them by number; etcd's
 * messages declare them in that order). */
static json_object *render_message(const ProtobufCMessage *m) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  json_object *obj = json_object_new_object();
  for (unsigned i = 0; obj && i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (!is_set(m, f)) continue;
    json_object *v = render_field(m, f);
    if (!v || json_object_object_add(obj, f->name, v) != 0) {
      json_object_put(v);
      json_object_put(obj);
      return NULL;
    }
  }
  return obj;
}

int lkv_json_pb_render(const ProtobufCMessageDescriptor *desc, const uint8_t *pb, size_t len, char **out,
                       size_t *out_len) {
  ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, pb);
  if (!m) return LKV_EPROTO;
  json_object *obj = render_message(m);
  protobuf_c_message_free_unpacked(m, NULL);
  if (!obj) return LKV_ENOMEM;
  size_t n;
  const char *text =
      json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
  char *copy = text ? malloc(n + 1) : NULL;
  if (copy) memcpy(copy, text, n + 1);
  json_object_put(obj);
  if (!copy) return LKV_ENOMEM;
  *out = copy;
  *out_len = n;
  return 0;
}
