/* Prometheus' text exposition format 0.0.4: the registry rendered for a scrape. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"
#include "metrics/internal.h"

typedef struct out_s {
  char *buf;
  size_t len, cap;
  int failed;
} out_t;

static void put(out_t *o, const char *s, size_t n) {
  if (o->failed) return;
  if (lkv_grow((void **)&o->buf, &o->cap, o->len + n + 1, 1) != 0) {
    o->failed = 1;
    return;
  }
  memcpy(o->buf + o->len, s, n);
  o->len += n;
  o->buf[o->len] = '\0';
}

static void puts_(out_t *o, const char *s) {
  put(o, s, strlen(s));
}

/* Escapes backslash and newline (HELP text), and double quotes too (label values). */
static void put_escaped(out_t *o, const char *s, int quote) {
  for (; *s; s++) {
    if (*s == '\\')
      puts_(o, "\\\\");
    else if (*s == '\n')
      puts_(o, "\\n");
    else if (quote && *s == '"')
      puts_(o, "\\\"");
    else
      put(o, s, 1);
  }
}

/* The shortest text that reads back as v (what Prometheus' Go client prints: 1, 0.5, 8.192, 1e+06 is
 * written 1000000 here, equally valid), and +Inf, -Inf, NaN. */
static void put_double(out_t *o, double v) {
  char buf[40];
  if (isnan(v)) {
    snprintf(buf, sizeof(buf), "NaN");
  } else if (isinf(v)) {
    snprintf(buf, sizeof(buf), v > 0 ? "+Inf" : "-Inf");
  } else if (v == floor(v) && fabs(v) < 1e15) {
    snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    for (int prec = 1; prec <= 17; prec++) {
      snprintf(buf, sizeof(buf), "%.*g", prec, v);
      if (strtod(buf, NULL) == v) break;
    }
  }
  puts_(o, buf);
}

/* name{labels[,le="bound"]} value\n; le_bound NULL: no le label. */
static void put_sample(out_t *o, const lkv_metric_t *m, const char *suffix, char **labels, const char *le,
                       double v) {
  puts_(o, m->d.name);
  puts_(o, suffix);
  if (labels || le) {
    puts_(o, "{");
    for (size_t i = 0; labels && i < m->d.n_labels; i++) {
      if (i) puts_(o, ",");
      puts_(o, m->d.label_names[i]);
      puts_(o, "=\"");
      put_escaped(o, labels[i], 1);
      puts_(o, "\"");
    }
    if (le) {
      if (labels && m->d.n_labels) puts_(o, ",");
      puts_(o, "le=\"");
      puts_(o, le);
      puts_(o, "\"");
    }
    puts_(o, "}");
  }
  puts_(o, " ");
  put_double(o, v);
  puts_(o, "\n");
}

static void put_histogram(out_t *o, const lkv_metric_t *m, size_t series, char **labels) {
  const _Atomic uint64_t *w = &m->words[series * m->stride];
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= m->d.n_bounds; b++) {
    cumulative += atomic_load_explicit(&w[b], memory_order_relaxed);
    char le[40] = "+Inf";
    if (b < m->d.n_bounds) {
      out_t tmp = {0};
      put_double(&tmp, m->d.bounds[b]);
      if (tmp.failed) o->failed = 1;
      if (tmp.buf) snprintf(le, sizeof(le), "%s", tmp.buf);
      free(tmp.buf);
    }
    put_sample(o, m, "_bucket", labels, le, (double)cumulative);
  }
  put_sample(o, m, "_sum", labels, NULL, lkv__metric_load(&w[m->d.n_bounds + 1]));
  put_sample(o, m, "_count", labels, NULL, (double)cumulative);
}

static const char *type_name(lkv_metric_type_t t) {
  return t == LKV_METRIC_COUNTER ? "counter" : t == LKV_METRIC_GAUGE ? "gauge" : "histogram";
}

static int any_labelled(const lkv_metric_t *m) {
  for (size_t s = 0; s < m->n_series; s++)
    if (!m->d.n_labels || lkv__metric_labels(m, s)) return 1;
  return 0;
}

static void put_family(out_t *o, const lkv_metric_t *m) {
  if (!any_labelled(m)) return; /* as Prometheus' Go client: a vector without series is not listed */
  puts_(o, "# HELP ");
  puts_(o, m->d.name);
  puts_(o, " ");
  put_escaped(o, m->d.help, 0);
  puts_(o, "\n# TYPE ");
  puts_(o, m->d.name);
  puts_(o, " ");
  puts_(o, type_name(m->d.type));
  puts_(o, "\n");
  for (size_t s = 0; s < m->n_series; s++) {
    char **labels = lkv__metric_labels(m, s);
    if (m->d.n_labels && !labels) continue; /* not labelled yet */
    if (m->d.type == LKV_METRIC_HISTOGRAM)
      put_histogram(o, m, s, labels);
    else
      put_sample(o, m, "", labels, NULL, lkv__metric_load(&m->words[s]));
  }
}

int lkv_metrics_render(lkv_metrics_t *reg, char **out, size_t *len) {
  out_t o = {0};
  pthread_mutex_lock(&reg->mu);
  for (size_t i = 0; i < reg->n_collectors; i++) reg->collectors[i].fn(reg->collectors[i].arg);
  for (const lkv_metric_t *m = reg->head; m; m = m->next) put_family(&o, m);
  pthread_mutex_unlock(&reg->mu);
  put(&o, "", 0); /* an empty registry still renders "" */
  if (o.failed) {
    free(o.buf);
    return LKV_ENOMEM;
  }
  *out = o.buf;
  *len = o.len;
  return 0;
}
