/* --config-file: a YAML file with etcd 3.4's keys (embed.Config's yaml tags), read with libyaml. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/error.h"
#include "server/config_etcd.h"
#include "server/config_internal.h"

/* YAML 1.1 booleans (what etcd's YAML reader accepts) to Go's spelling; other text unchanged. */
static const char *yaml_bool(const char *v) {
  static const char *const yes[] = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char *const no[] = {"n", "N", "no", "No", "NO", "off", "Off", "OFF"};
  for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
    if (strcmp(v, yes[i]) == 0) return "true";
    if (strcmp(v, no[i]) == 0) return "false";
  }
  return v;
}

static int all_digits(const char *s) {
  if (*s == '\0') return 0;
  for (; *s != '\0'; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* A node's text: a scalar as is, a sequence of scalars joined with commas (etcd's log-outputs). Returns
 * 0 with *out malloc'ed, 1 for a null value (the key is skipped), or LKV_EINVAL. */
static int node_text(yaml_document_t *doc, yaml_node_t *node, char **out) {
  if (node->type == YAML_SCALAR_NODE) {
    const char *v = (const char *)node->data.scalar.value;
    if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0))
      return 1;
    *out = strdup(v);
    return *out ? 0 : LKV_ENOMEM;
  }
  if (node->type != YAML_SEQUENCE_NODE) return LKV_EINVAL;
  size_t len = 1;
  for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
    yaml_node_t *item = yaml_document_get_node(doc, *it);
    if (item == NULL || item->type != YAML_SCALAR_NODE) return LKV_EINVAL;
    len += item->data.scalar.length + 1;
  }
  char *s = calloc(1, len);
  if (s == NULL) return LKV_ENOMEM;
  for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
    if (s[0] != '\0') strcat(s, ",");
    strcat(s, (const char *)yaml_document_get_node(doc, *it)->data.scalar.value);
  }
  *out = s;
  return 0;
}

/* Sets the flag called name from one key's node. */
static int apply(lkv__config_parse_t *p, const char *path, yaml_document_t *doc, const char *key,
                 const char *name, yaml_node_t *node) {
  size_t len = strlen(name);
  int kind = lkv__config_flag_kind(name, len);
  if (kind == 0 || strcmp(name, "config-file") == 0 || strcmp(name, "version") == 0)
    return lkv__config_warn(p, "config file %s: unknown key %s ignored (etcd ignores it too)", path, key);
  char *text = NULL;
  int rc = node_text(doc, node, &text);
  if (rc == 1) return 0;
  if (rc == LKV_ENOMEM) return lkv__config_fail(p, "out of memory");
  if (rc != 0)
    return lkv__config_fail(p, "config file %s: %s: expected a value or a list of values", path, key);
  const char *value = text;
  char buf[64];
  const lkv__etcd_flag_t *e = lkv__config_etcd_find(name, len);
  if (kind == 2) value = yaml_bool(text);
  if (e != NULL && e->kind == LKV__KIND_DURATION && all_digits(text) && strlen(text) < 40) {
    snprintf(buf, sizeof(buf), "%sns", text); /* etcd's durations are integer nanoseconds in YAML */
    value = buf;
  }
  rc = lkv__config_set(p, name, len, value, LKV__SRC_FILE, key);
  free(text);
  if (rc == LKV_EINVAL && p->errlen > 0) {
    char inner[512];
    snprintf(inner, sizeof(inner), "%s", p->err);
    lkv__config_fail(p, "config file %s: %s", path, inner);
  }
  return rc;
}

/* client-transport-security / peer-transport-security: their keys are the TLS flags' names (peer- prefixed
 * for peers), so they meet the same refusal. */
static int apply_security(lkv__config_parse_t *p, const char *path, yaml_document_t *doc, const char *key,
                          yaml_node_t *map, const char *prefix) {
  if (map->type != YAML_MAPPING_NODE)
    return lkv__config_fail(p, "config file %s: %s: expected a mapping", path, key);
  for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
    yaml_node_t *k = yaml_document_get_node(doc, pr->key);
    if (k == NULL || k->type != YAML_SCALAR_NODE) continue;
    char name[128];
    snprintf(name, sizeof(name), "%s%s", prefix, (const char *)k->data.scalar.value);
    int rc = apply(p, path, doc, name, name, yaml_document_get_node(doc, pr->value));
    if (rc != 0) return rc;
  }
  return 0;
}

int lkv__config_file_apply(lkv__config_parse_t *p, const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) { /* Go's wording: "open x: no such file or directory" */
    char why[128];
    snprintf(why, sizeof(why), "%s", strerror(errno));
    if (why[0] >= 'A' && why[0] <= 'Z') why[0] = (char)(why[0] - 'A' + 'a');
    return lkv__config_fail(p, "open %s: %s", path, why);
  }
  yaml_parser_t parser;
  yaml_document_t doc;
  int rc = 0;
  if (!yaml_parser_initialize(&parser)) {
    fclose(f);
    return lkv__config_fail(p, "out of memory");
  }
  yaml_parser_set_input_file(&parser, f);
  if (!yaml_parser_load(&parser, &doc)) {
    rc = lkv__config_fail(p, "config file %s: line %zu: %s", path, parser.problem_mark.line + 1,
                          parser.problem ? parser.problem : "malformed YAML");
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
  }
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (root != NULL && root->type != YAML_MAPPING_NODE)
    rc = lkv__config_fail(p, "config file %s: expected a mapping of etcd's configuration keys", path);
  for (yaml_node_pair_t *pr = root && rc == 0 ? root->data.mapping.pairs.start : NULL;
       rc == 0 && pr != NULL && pr < root->data.mapping.pairs.top; pr++) {
    yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
    yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
    if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE) {
      rc = lkv__config_fail(p, "config file %s: keys must be plain names", path);
      break;
    }
    const char *key = (const char *)k->data.scalar.value;
    if (strcmp(key, "client-transport-security") == 0)
      rc = apply_security(p, path, &doc, key, v, "");
    else if (strcmp(key, "peer-transport-security") == 0)
      rc = apply_security(p, path, &doc, key, v, "peer-");
    else
      rc = apply(p, path, &doc, key, key, v);
  }
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  fclose(f);
  return rc;
}

/* etcd reads a config file alone: the command line's other flags and the ETCD_* variables are dropped
 * (etcd does so silently; we warn). A flag refused on the command line still stops us: we would rather
 * not start than drop a security flag without a word. */
int lkv__config_file_use(lkv__config_parse_t *p, const char *path, char **envp) {
  char msg[256];
  for (size_t i = 0; i < p->n_given; i++) {
    if (lkv__config_etcd_judge(p->given[i].flag, p->given[i].value, msg, sizeof(msg)) == 1)
      return lkv__config_fail(p, "--%s: %s", p->given[i].flag->name, msg);
  }
  int rc = 0;
  if (p->n_set > (lkv__config_was_set(p, "config-file") ? 1u : 0u))
    rc = lkv__config_warn(p,
                          "command-line flags other than --config-file are ignored: the config file %s "
                          "is used alone, as etcd does",
                          path);
  for (char **e = envp; rc == 0 && e != NULL && *e != NULL; e++) {
    if (strncmp(*e, "ETCD_", 5) == 0 && strncmp(*e, "ETCD_CONFIG_FILE=", 17) != 0) {
      rc = lkv__config_warn(p,
                            "ETCD_* environment variables are ignored: the config file %s is used alone, "
                            "as etcd does",
                            path);
      break;
    }
  }
  if (rc != 0) return rc;
  char *keep_path = strdup(path);
  if (keep_path == NULL) return lkv__config_nomem(p);
  lkv_config_t *cfg = p->cfg;
  char **warnings = cfg->warnings;
  size_t n_warnings = cfg->n_warnings;
  cfg->warnings = NULL;
  cfg->n_warnings = 0;
  lkv_config_free(cfg);
  cfg->warnings = warnings;
  cfg->n_warnings = n_warnings;
  lkv__config_given_free(p);
  rc = lkv__config_defaults(p);
  if (rc == 0) rc = lkv__config_file_apply(p, keep_path);
  free(keep_path);
  return rc;
}
