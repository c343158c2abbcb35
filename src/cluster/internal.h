/* Helpers shared by the files of src/cluster, not part of its contract. */
#ifndef LKV_CLUSTER_INTERNAL_H
#define LKV_CLUSTER_INTERNAL_H

#include <stddef.h>

/* Formats a message into err (nothing when errlen is 0) and returns LKV_EINVAL. */
int lkv__cluster_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
