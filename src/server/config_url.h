/* Internal to the command line: parsing, copying and freeing client URL lists. */
#ifndef LKV_SERVER_CONFIG_URL_H
#define LKV_SERVER_CONFIG_URL_H

#include <stddef.h>

#include "server/config.h"

/* Parses a comma-separated list of http://host:port or https://host:port URLs (tls set) given to flag
 * ("--listen-client-urls").
 * for_listen: 1 for addresses to bind (host must be a numeric IPv4 address, a bracketed IPv6 address or
 *   "localhost", which becomes 127.0.0.1; port 0 allowed); 0 for advertised ones (any host name, port
 *   1..65535). Entries naming the same host and port as an earlier one are dropped.
 * out, n: out, on success a malloc'd array of at least one URL (free with lkv__config_urls_free).
 * err, errlen: out, on failure a message naming flag and the offending URL.
 * Returns 0, LKV_EINVAL or LKV_ENOMEM; on failure *out and *n are untouched. */
int lkv__config_urls_parse(const char *flag, const char *list, int for_listen, lkv_config_url_t **out,
                           size_t *n, char *err, size_t errlen);

/* Deep-copies src[0..n) into a new array *out. Returns 0 or LKV_ENOMEM (then *out is untouched). */
int lkv__config_urls_copy(const lkv_config_url_t *src, size_t n, lkv_config_url_t **out);

/* Frees urls[0..n) and the array; urls may be NULL. */
void lkv__config_urls_free(lkv_config_url_t *urls, size_t n);

#endif
