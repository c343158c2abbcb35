/* --initial-cluster as etcd's types.NewURLsMap reads it, and the ids of the new cluster it describes. */
#include "cluster/initial_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/ids.h"
#include "cluster/internal.h"
#include "common/error.h"

/* One "name=url" entry, in the order written (seq) so that sorting by name keeps each name's URLs in
 * order: etcd reports the first bad URL of a name. */
typedef struct {
  char *name, *url;
  size_t seq;
} entry_t;

static int cmp_entry(const void *a, const void *b) {
  const entry_t *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_entries(entry_t *e, size_t n) {
  for (size_t i = 0; i < n; i++) free(e[i].name), free(e[i].url);
  free(e);
}

/* Splits s at commas into entries (empty ones skipped), each at its first '='. */
static int split(const char *s, entry_t **out, size_t *n_out) {
  size_t cap = 1;
  for (const char *p = s; *p; p++) cap += *p == ',';
  entry_t *e = calloc(cap, sizeof(*e));
  if (!e) return LKV_ENOMEM;
  size_t n = 0;
  for (const char *p = s;;) {
    size_t len = strcspn(p, ",");
    if (len > 0) {
      const char *eq = memchr(p, '=', len);
      size_t nl = eq ? (size_t)(eq - p) : len;
      e[n].name = strndup(p, nl);
      e[n].url = eq ? strndup(eq + 1, len - nl - 1) : strdup("");
      e[n].seq = n;
      if (!e[n].name || !e[n].url) {
        free_entries(e, n + 1);
        return LKV_ENOMEM;
      }
      n++;
    }
    p += len;
    if (!*p) break;
    p++;
  }
  *out = e;
  *n_out = n;
  return 0;
}

void lkv_cluster_initial_free(lkv_cluster_initial_t *ic) {
  if (!ic) return;
  for (size_t i = 0; i < ic->n_members; i++) {
    lkv_cluster_member_t *m = &ic->members[i];
    for (size_t j = 0; j < m->n_peer_urls; j++) free(m->peer_urls[j]);
    free(m->peer_urls);
    free(m->name);
  }
  free(ic->members);
  memset(ic, 0, sizeof(*ic));
}

int lkv_cluster_initial_parse(const char *s, lkv_cluster_initial_t *out, char *err, size_t errlen) {
  entry_t *e;
  size_t n;
  int rc = split(s, &e, &n);
  if (rc) return rc;
  qsort(e, n, sizeof(*e), cmp_entry);
  lkv_cluster_initial_t ic = {.members = calloc(n ? n : 1, sizeof(*ic.members))};
  if (!ic.members) {
    rc = LKV_ENOMEM;
    goto err_after_split;
  }
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && strcmp(e[j].name, e[i].name) == 0) j++;
    lkv_cluster_member_t *m = &ic.members[ic.n_members++];
    m->peer_urls = calloc(j - i, sizeof(char *));
    if (!m->peer_urls) {
      rc = LKV_ENOMEM;
      goto err_after_members;
    }
    m->name = e[i].name; /* moved: the entry no longer owns it */
    e[i].name = NULL;
    for (size_t k = i; k < j; k++) {
      rc = lkv_cluster_url_parse(e[k].url, &m->peer_urls[m->n_peer_urls], err, errlen);
      if (rc) goto err_after_members;
      m->n_peer_urls++;
    }
    qsort(m->peer_urls, m->n_peer_urls, sizeof(char *), cmp_str);
    i = j;
  }
  free_entries(e, n);
  *out = ic;
  return 0;
err_after_members:
  lkv_cluster_initial_free(&ic);
err_after_split:
  free_entries(e, n);
  return rc;
}

const lkv_cluster_member_t *lkv_cluster_initial_find(const lkv_cluster_initial_t *ic, const char *name) {
  for (size_t i = 0; i < ic->n_members; i++)
    if (strcmp(ic->members[i].name, name) == 0) return &ic->members[i];
  return NULL;
}

/* etcd's URLsMap.String(): every "name=url", sorted, joined by commas (for the duplicate-URL message). */
static char *urls_map_string(const lkv_cluster_initial_t *ic) {
  size_t total = 0, k = 0, len = 1;
  for (size_t i = 0; i < ic->n_members; i++) total += ic->members[i].n_peer_urls;
  char **pairs = calloc(total ? total : 1, sizeof(*pairs));
  char *s = NULL;
  if (!pairs) return NULL;
  for (size_t i = 0; i < ic->n_members; i++)
    for (size_t j = 0; j < ic->members[i].n_peer_urls; j++, k++) {
      const lkv_cluster_member_t *m = &ic->members[i];
      size_t n = strlen(m->name) + strlen(m->peer_urls[j]) + 2;
      if (!(pairs[k] = malloc(n))) goto out;
      snprintf(pairs[k], n, "%s=%s", m->name, m->peer_urls[j]);
      len += n;
    }
  qsort(pairs, total, sizeof(*pairs), cmp_str);
  if (!(s = malloc(len))) goto out;
  s[0] = '\0';
  for (size_t i = 0; i < total; i++) {
    if (i) strcat(s, ",");
    strcat(s, pairs[i]);
  }
out:
  for (size_t i = 0; i < total; i++) free(pairs[i]);
  free(pairs);
  return s;
}

static int has_duplicate_url(const lkv_cluster_initial_t *ic) {
  for (size_t a = 0; a < ic->n_members; a++)
    for (size_t i = 0; i < ic->members[a].n_peer_urls; i++)
      for (size_t b = a; b < ic->n_members; b++)
        for (size_t j = b == a ? i + 1 : 0; j < ic->members[b].n_peer_urls; j++)
          if (strcmp(ic->members[a].peer_urls[i], ic->members[b].peer_urls[j]) == 0) return 1;
  return 0;
}

int lkv_cluster_bootstrap(lkv_cluster_initial_t *ic, const char *token, uint64_t *cluster_id, char *err,
                          size_t errlen) {
  if (ic->n_members == 0)
    return lkv__cluster_fail(err, errlen, "initial cluster unset and no discovery URL found");
  if (has_duplicate_url(ic)) {
    char *s = urls_map_string(ic);
    if (!s) return LKV_ENOMEM;
    lkv__cluster_fail(err, errlen, "initial cluster %s has duplicate url", s);
    free(s);
    return LKV_EINVAL;
  }
  uint64_t *ids = calloc(ic->n_members, sizeof(*ids));
  if (!ids) return LKV_ENOMEM;
  int rc = 0;
  for (size_t i = 0; i < ic->n_members && rc == 0; i++) {
    lkv_cluster_member_t *m = &ic->members[i];
    rc = lkv_cluster_member_id((const char *const *)m->peer_urls, m->n_peer_urls, token ? token : "", NULL,
                               &m->id);
    if (rc) break;
    if (m->id == 0) rc = lkv__cluster_fail(err, errlen, "cannot use 0 as member id");
    for (size_t j = 0; j < i && rc == 0; j++) {
      char hex[LKV_CLUSTER_ID_HEX_LEN];
      if (ids[j] == m->id)
        rc = lkv__cluster_fail(err, errlen, "member exists with identical ID %s",
                               lkv_cluster_id_format(m->id, hex));
    }
    ids[i] = m->id;
  }
  if (rc == 0) rc = lkv_cluster_id_of_members(ids, ic->n_members, cluster_id);
  free(ids);
  return rc;
}
