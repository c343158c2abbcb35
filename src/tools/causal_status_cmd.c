/* `ledgerkv causal-status`: prints a causal-mode member's version vector, its peers' as it last heard them,
 * and which of them cover a write (Conflicts.ReplicationStatus, docs/causal.md §13). */
#include "tools/causal_status_cmd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ledger_client.h"

static void usage(FILE *f) {
  fputs(
      "Usage: ledgerkv causal-status [--endpoints HOST:PORT] [--key KEY | --event ORIGIN:SEQ]\n"
      "Asks a causal-mode member (--consistency=causal) and prints JSON on stdout (docs/causal.md §13):\n"
      "its version vector and each peer's as it last heard it through anti-entropy, when it last heard from\n"
      "each peer and whether it reports it silent; with --key (the key's current winner) or --event\n"
      "(ORIGIN a member id in hex, SEQ its sequence), which vectors cover it.\n"
      "  --endpoints E        the member (default 127.0.0.1:2379; the first of a list)\n",
      f);
}

/* {"member_id": HEX, "revision": N, ["event": {"origin": HEX, "seq": N},] "members": [{"id": HEX,
 * "vector": {HEX: N, ...}, "covers": B, "last_heard_ms": N, "silent": B}, ...]}: ids in hex as etcdctl
 * prints them. */
static void print_status(const Ledgerkvpb__ReplicationStatusResponse *m) {
  printf("{\"member_id\": \"%" PRIx64 "\", \"revision\": %" PRId64, m->member_id, m->revision);
  if (m->event)
    printf(", \"event\": {\"origin\": \"%" PRIx64 "\", \"seq\": %" PRIu64 "}", m->event->origin,
           m->event->seq);
  printf(", \"members\": [");
  for (size_t i = 0; i < m->n_members; i++) {
    const Ledgerkvpb__MemberVector *v = m->members[i];
    printf("%s{\"id\": \"%" PRIx64 "\", \"vector\": {", i ? ", " : "", v->member_id);
    for (size_t j = 0; j < v->n_vector; j++)
      printf("%s\"%" PRIx64 "\": %" PRIu64, j ? ", " : "", v->vector[j]->origin, v->vector[j]->seq);
    printf("}, \"covers\": %s, \"last_heard_ms\": %" PRId64 ", \"silent\": %s}", v->covers ? "true" : "false",
           v->last_heard_ms, v->silent ? "true" : "false");
  }
  puts("]}");
}

/* "ORIGIN:SEQ" (origin in hex) into ev. Returns 0, or -1 when it does not parse. */
static int parse_event(const char *s, Ledgerkvpb__EventId *ev) {
  char *colon, *end;
  ev->origin = strtoull(s, &colon, 16);
  if (colon == s || *colon != ':') return -1;
  ev->seq = strtoull(colon + 1, &end, 10);
  return end == colon + 1 || *end || !ev->origin || !ev->seq ? -1 : 0;
}

int lkv_cmd_causal_status(int argc, char **argv) {
  const char *endpoint = "127.0.0.1:2379", *key = NULL, *event = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (i + 1 < argc && strcmp(a, "--endpoints") == 0) {
      endpoint = argv[++i];
    } else if (i + 1 < argc && strcmp(a, "--key") == 0) {
      key = argv[++i];
    } else if (i + 1 < argc && strcmp(a, "--event") == 0) {
      event = argv[++i];
    } else {
      fprintf(stderr, "ledgerkv causal-status: unexpected argument \"%s\"\n", a);
      usage(stderr);
      return 2;
    }
  }
  Ledgerkvpb__ReplicationStatusRequest req = LEDGERKVPB__REPLICATION_STATUS_REQUEST__INIT;
  Ledgerkvpb__EventId ev = LEDGERKVPB__EVENT_ID__INIT;
  if ((key && event) || (key && !key[0]) || (event && parse_event(event, &ev))) {
    usage(stderr);
    return 2;
  }
  if (key) req.key = (ProtobufCBinaryData){.len = strlen(key), .data = (uint8_t *)key};
  if (event) req.event = &ev;
  uint8_t *resp;
  size_t len;
  int rc = lkv__tools_ask("causal-status", endpoint, "/ledgerkvpb.Conflicts/ReplicationStatus", &req.base,
                          &resp, &len);
  if (rc) return rc;
  Ledgerkvpb__ReplicationStatusResponse *m = ledgerkvpb__replication_status_response__unpack(NULL, len, resp);
  free(resp);
  if (!m) {
    fprintf(stderr, "ledgerkv causal-status: malformed response\n");
    return 1;
  }
  print_status(m);
  ledgerkvpb__replication_status_response__free_unpacked(m, NULL);
  return 0;
}
