/* Locating this process's cgroup directories through /proc/self/cgroup and /proc/self/mountinfo. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "pool/cgroup.h"

static void note_set(char *note, size_t note_len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(note, note_len, fmt, ap);
  va_end(ap);
}

/* root without its trailing slashes, so that joining it with an absolute path gives one slash. */
static size_t root_prefix_len(const char *root) {
  size_t n = strlen(root);
  while (n > 0 && root[n - 1] == '/') n--;
  return n;
}

static FILE *open_under(const char *root, const char *rel, char *path, char *note, size_t note_len,
                        int *err) {
  int n = snprintf(path, PATH_MAX, "%.*s%s", (int)root_prefix_len(root), root, rel);
  if (n < 0 || n >= PATH_MAX) {
    note_set(note, note_len, "root path too long");
    *err = LKV_EINVAL;
    return NULL;
  }
  FILE *f = fopen(path, "re");
  if (f == NULL) {
    *err = -errno;
    note_set(note, note_len, "cannot read %s: %s", path, strerror(-*err));
  }
  return f;
}

/* Whether the comma-separated list holds token exactly ("cpu" must not match "cpuacct" or "cpuset"). */
static int has_token(const char *list, size_t list_len, const char *token) {
  size_t tlen = strlen(token);
  const char *end = list + list_len;
  while (list < end) {
    const char *comma = memchr(list, ',', (size_t)(end - list));
    size_t len = comma ? (size_t)(comma - list) : (size_t)(end - list);
    if (len == tlen && memcmp(list, token, tlen) == 0) return 1;
    if (comma == NULL) break;
    list = comma + 1;
  }
  return 0;
}

/* A path with a ".." component lies outside what this process can see (a cgroup namespace boundary). */
static int has_dotdot(const char *p) {
  for (const char *s = strstr(p, ".."); s != NULL; s = strstr(s + 1, "..")) {
    if ((s == p || s[-1] == '/') && (s[2] == '\0' || s[2] == '/')) return 1;
  }
  return 0;
}

/* Copies the process's path in hierarchy v from <root>/proc/self/cgroup into cg (PATH_MAX bytes). */
static int read_cgroup_path(const char *root, lkv__cgroup_version_t v, char *cg, char *note,
                            size_t note_len) {
  char path[PATH_MAX];
  int rc = 0;
  FILE *f = open_under(root, "/proc/self/cgroup", path, note, note_len, &rc);
  if (f == NULL) return rc;

  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  rc = LKV_ENOENT;
  while ((len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] == '\n') line[--len] = '\0';
    /* "hierarchy-id:controller-list:path"; the path itself may contain ':' */
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c2 == NULL) continue;
    int match = v == LKV__CGROUP_V2 ? (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1)
                                    : has_token(c1 + 1, (size_t)(c2 - c1 - 1), "cpu");
    if (!match) continue;
    const char *p = c2 + 1;
    if (p[0] != '/' || strlen(p) >= PATH_MAX) {
      note_set(note, note_len, "unexpected cgroup path in %s", path);
      rc = LKV_EINVAL;
    } else if (has_dotdot(p)) {
      note_set(note, note_len, "the process's cgroup %s is outside this cgroup namespace", p);
      rc = LKV_ENOENT;
    } else {
      memcpy(cg, p, strlen(p) + 1);
      rc = 0;
    }
    break;
  }
  if (rc == LKV_ENOENT && note[0] == '\0') {
    note_set(note, note_len, "no %s entry in %s", v == LKV__CGROUP_V2 ? "cgroup v2" : "cgroup v1 cpu", path);
  }
  free(line);
  fclose(f);
  return rc;
}

/* Decodes mountinfo's octal escapes (\040 for a space, \011, \012, \134) in place. */
static void unescape(char *s) {
  char *out = s;
  for (char *in = s; *in != '\0'; in++) {
    if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' &&
        in[3] <= '7') {
      *out++ = (char)(((in[1] - '0') << 6) | ((in[2] - '0') << 3) | (in[3] - '0'));
      in += 3;
    } else {
      *out++ = *in;
    }
  }
  *out = '\0';
}

typedef struct mount_s {
  char *root;   /* the cgroup path that the mount point shows */
  char *point;  /* where it is mounted */
  char *fstype; /* "cgroup" or "cgroup2" for us */
  char *super;  /* super options: v1 lists the controllers here */
} mount_t;

/* Splits one mountinfo line in place: "id parent maj:min root point opts [optional...] - type src super".
 * Returns 0, or -1 for a line that does not have that shape. */
static int parse_mount(char *line, mount_t *m) {
  char *save = NULL;
  char *field[6];
  for (int i = 0; i < 6; i++) {
    field[i] = strtok_r(i == 0 ? line : NULL, " ", &save);
    if (field[i] == NULL) return -1;
  }
  char *tok;
  while ((tok = strtok_r(NULL, " ", &save)) != NULL && strcmp(tok, "-") != 0) {
  }
  if (tok == NULL) return -1;
  m->fstype = strtok_r(NULL, " ", &save);
  char *source = strtok_r(NULL, " ", &save);
  m->super = strtok_r(NULL, " ", &save);
  if (m->fstype == NULL || source == NULL || m->super == NULL) return -1;
  m->root = field[3];
  m->point = field[4];
  unescape(m->root);
  unescape(m->point);
  return 0;
}

/* The part of cg below mount root mroot ("" when cg is mroot itself), or NULL when cg is not under it. */
static const char *below(const char *cg, const char *mroot) {
  size_t n = root_prefix_len(mroot);
  if (strncmp(cg, mroot, n) != 0) return NULL;
  if (cg[n] == '\0' || (cg[n] == '/' && cg[n + 1] == '\0')) return "";
  return cg[n] == '/' ? cg + n : NULL;
}

/* out = <root><point><rel>, with single slashes; "/" when all three are empty or "/". */
static int join(char *out, const char *root, const char *point, const char *rel) {
  int n = snprintf(out, PATH_MAX, "%.*s%.*s%s", (int)root_prefix_len(root), root, (int)root_prefix_len(point),
                   point, rel);
  if (n < 0 || n >= PATH_MAX) return LKV_EINVAL;
  if (n == 0) memcpy(out, "/", 2);
  return 0;
}

int lkv__cgroup_locate(const char *root, lkv__cgroup_version_t v, char *leaf, char *top, char *note,
                       size_t note_len) {
  char cg[PATH_MAX];
  note[0] = '\0';
  int rc = read_cgroup_path(root, v, cg, note, note_len);
  if (rc != 0) return rc;

  char path[PATH_MAX], leaf_try[PATH_MAX], top_try[PATH_MAX];
  FILE *f = open_under(root, "/proc/self/mountinfo", path, note, note_len, &rc);
  if (f == NULL) return rc;

  char *line = NULL;
  size_t cap = 0;
  size_t best = (size_t)-1; /* length of the chosen mount's root */
  int seen = 0;             /* mounts of the hierarchy whose root does not contain the process's cgroup */
  rc = LKV_ENOENT;
  while (getline(&line, &cap, f) > 0) {
    line[strcspn(line, "\n")] = '\0';
    mount_t m;
    if (parse_mount(line, &m) != 0) continue;
    int match = v == LKV__CGROUP_V2
                    ? strcmp(m.fstype, "cgroup2") == 0
                    : strcmp(m.fstype, "cgroup") == 0 && has_token(m.super, strlen(m.super), "cpu");
    if (!match) continue;
    const char *rel = below(cg, m.root);
    if (rel == NULL) {
      seen++;
      continue;
    }
    size_t root_len = strlen(m.root);
    if (root_len >= best) continue;
    if (join(leaf_try, root, m.point, rel) != 0 || join(top_try, root, m.point, "") != 0) {
      if (rc != 0) {
        note_set(note, note_len, "cgroup path too long under %s", m.point);
        rc = LKV_EINVAL;
      }
      continue;
    }
    memcpy(leaf, leaf_try, strlen(leaf_try) + 1);
    memcpy(top, top_try, strlen(top_try) + 1);
    best = root_len;
    rc = 0;
  }
  free(line);
  fclose(f);

  if (rc == 0) {
    note[0] = '\0';
  } else if (rc == LKV_ENOENT && seen > 0) {
    note_set(note, note_len, "the process's cgroup %s is not under the root of any %s mount", cg,
             v == LKV__CGROUP_V2 ? "cgroup2" : "cgroup v1 cpu");
  } else if (rc == LKV_ENOENT) {
    note_set(note, note_len, "no %s mount in %s",
             v == LKV__CGROUP_V2 ? "cgroup2" : "cgroup v1 cpu controller", path);
  }
  return rc;
}
