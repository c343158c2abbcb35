/* etcd's "members" bucket: each member's id and attributes in the JSON form etcd 3.4 stores. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "snapshot/internal.h"

typedef struct sbuf_s {
  char *p;
  size_t len, cap;
  int oom;
} sbuf_t;

static void add(sbuf_t *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void adds(sbuf_t *b, const char *s) {
  add(b, s, strlen(s));
}

/* A JSON string as Go's encoding/json writes it: quotes, backslashes and control characters escaped, and
 * <, > and & as \u00XX (its HTML-safe default). */
static void add_json(sbuf_t *b, const char *s) {
  adds(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      add(b, esc, 2);
    } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      snprintf(esc, sizeof(esc), "\\u%04x", c);
      add(b, esc, 6);
    } else {
      add(b, (const char *)&c, 1);
    }
  }
  adds(b, "\"");
}

static void add_urls(sbuf_t *b, char *const *urls, size_t n) {
  if (n == 0) { /* a nil slice in Go */
    adds(b, "null");
    return;
  }
  adds(b, "[");
  for (size_t i = 0; i < n; i++) {
    if (i) adds(b, ",");
    add_json(b, urls[i]);
  }
  adds(b, "]");
}

typedef struct keyed_s {
  char key[17];
  const lkv_snapshot_member_t *m;
} keyed_t;

static int keyed_cmp(const void *a, const void *b) {
  return strcmp(((const keyed_t *)a)->key, ((const keyed_t *)b)->key);
}

int lkv__snapshot_members(lkv_bbolt_writer_t *w, const lkv_snapshot_member_t *ms, size_t n) {
  keyed_t *ks = calloc(n ? n : 1, sizeof(*ks));
  if (!ks) return LKV_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    snprintf(ks[i].key, sizeof(ks[i].key), "%" PRIx64, ms[i].id);
    ks[i].m = &ms[i];
  }
  qsort(ks, n, sizeof(*ks), keyed_cmp); /* the bucket's order is the text's, not the number's */
  sbuf_t b = {0};
  int rc = lkv_bbolt_bucket_begin(w, (const uint8_t *)"members", 7);
  for (size_t i = 0; i < n && !rc; i++) {
    const lkv_snapshot_member_t *m = ks[i].m;
    char id[64];
    b.len = 0;
    snprintf(id, sizeof(id), "{\"id\":%" PRIu64 ",\"peerURLs\":", m->id);
    adds(&b, id);
    add_urls(&b, m->peer_urls, m->n_peer_urls);
    if (m->is_learner) adds(&b, ",\"isLearner\":true");
    adds(&b, ",\"name\":");
    add_json(&b, m->name ? m->name : "");
    adds(&b, ",\"clientURLs\":");
    add_urls(&b, m->client_urls, m->n_client_urls);
    adds(&b, "}");
    rc = b.oom ? LKV_ENOMEM
               : lkv_bbolt_put(w, (const uint8_t *)ks[i].key, strlen(ks[i].key), (const uint8_t *)b.p, b.len);
  }
  if (!rc) rc = lkv_bbolt_bucket_end(w);
  free(b.p);
  free(ks);
  return rc;
}
