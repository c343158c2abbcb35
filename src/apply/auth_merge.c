/* Causal mode's merge of concurrent versions of one auth record: a grant holds only if every version has it.
 */
#include <stdlib.h>
#include <string.h>

#include "apply/auth_internal.h"
#include "common/error.h"

static int same_bytes(ProtobufCBinaryData a, ProtobufCBinaryData b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static int user_has(const ProtobufCMessage *m, const void *item) {
  const Authpb__User *u = (const Authpb__User *)m;
  for (size_t i = 0; i < u->n_roles; i++)
    if (strcmp(u->roles[i], item) == 0) return 1;
  return 0;
}

static int role_has(const ProtobufCMessage *m, const void *item) {
  const Authpb__Role *r = (const Authpb__Role *)m;
  const Authpb__Permission *p = item;
  for (size_t i = 0; i < r->n_keypermission; i++) {
    const Authpb__Permission *q = r->keypermission[i];
    if (q->permtype == p->permtype && same_bytes(q->key, p->key) && same_bytes(q->range_end, p->range_end))
      return 1;
  }
  return 0;
}

/* Packs w (the winner, unpacked) keeping of its items v[0..*n) (its roles or key permissions) those every
 * other version o[0..k) has too (has). Items are only moved back and *n lowered while packing; both are
 * restored before returning, so w frees as unpacked. */
static int pack_common(ProtobufCMessage *w, void **v, size_t *n, ProtobufCMessage *const *o, size_t k,
                       int (*has)(const ProtobufCMessage *, const void *), uint8_t **out, size_t *len) {
  size_t keep = 0, all = *n;
  for (size_t i = 0; i < all; i++) {
    int ok = 1;
    for (size_t j = 0; ok && j < k; j++) ok = has(o[j], v[i]);
    if (!ok) continue;
    void *t = v[keep];
    v[keep++] = v[i];
    v[i] = t;
  }
  *n = keep;
  *len = protobuf_c_message_get_packed_size(w);
  *out = malloc(*len ? *len : 1);
  if (*out) protobuf_c_message_pack(w, *out);
  *n = all;
  return *out ? 0 : LKV_ENOMEM;
}

int lkv_apply_auth_merge(lkv_mvcc_auth_kind_t kind, const lkv_apply_auth_version_t *v, size_t n,
                         uint8_t **out, size_t *out_len) {
  *out = NULL, *out_len = 0;
  if (kind != LKV_MVCC_AUTH_USER && kind != LKV_MVCC_AUTH_ROLE) return LKV_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (v[i].tombstone) return 0; /* a concurrent deletion wins: the record is absent */
  if (!n) return 0;
  const ProtobufCMessageDescriptor *d =
      kind == LKV_MVCC_AUTH_USER ? &authpb__user__descriptor : &authpb__role__descriptor;
  ProtobufCMessage **m = calloc(n, sizeof(*m));
  if (!m) return LKV_ENOMEM;
  int rc = 0;
  for (size_t i = 0; !rc && i < n; i++)
    if (!(m[i] = protobuf_c_message_unpack(d, NULL, v[i].len, v[i].val))) rc = LKV_ECORRUPT;
  if (!rc && kind == LKV_MVCC_AUTH_USER) {
    Authpb__User *u = (Authpb__User *)m[0];
    rc = pack_common(m[0], (void **)u->roles, &u->n_roles, m + 1, n - 1, user_has, out, out_len);
  } else if (!rc) {
    Authpb__Role *r = (Authpb__Role *)m[0];
    rc = pack_common(m[0], (void **)r->keypermission, &r->n_keypermission, m + 1, n - 1, role_has, out,
                     out_len);
  }
  for (size_t i = 0; i < n; i++)
    if (m[i]) protobuf_c_message_free_unpacked(m[i], NULL);
  free(m);
  return rc;
}
