/* The client side the commands that ask a node share: one unary call; the members' ledger keys. */
#ifndef LKV_TOOLS_LEDGER_CLIENT_H
#define LKV_TOOLS_LEDGER_CLIENT_H

#include "ledgerkv.pb-c.h"

/* Makes one unary call of method path (req) to the node at endpoint ("host:port" or "http://host:port"; the
 * first of a comma-separated list). Returns 0 and sets *resp (malloc'd, the caller frees it) and *len, or an
 * exit status after a message on stderr that starts with "ledgerkv <cmd>: ": 2 for an endpoint that does
 * not parse, 1 when the node could not be asked or answered an error (its gRPC status and message). */
int lkv__tools_ask(const char *cmd, const char *endpoint, const char *path, const ProtobufCMessage *req,
                   uint8_t **resp, size_t *len);

/* Asks the node at endpoint ("host:port" or "http://host:port"; the first of a comma-separated list) for
 * every member's ledger key (Ledger.GetMemberKeys). Returns 0 and sets *out (free it with
 * ledgerkvpb__member_keys_response__free_unpacked), or an exit status after a message on stderr that starts
 * with "ledgerkv <cmd>: ": 2 for an endpoint that does not parse, 1 when the node could not be asked or
 * answered an error. */
int lkv__tools_member_keys(const char *cmd, const char *endpoint, Ledgerkvpb__MemberKeysResponse **out);

/* The first member of m that match accepts (arg passed through), or NULL. */
const Ledgerkvpb__MemberKey *lkv__tools_member_find(const Ledgerkvpb__MemberKeysResponse *m,
                                                    int (*match)(const Ledgerkvpb__MemberKey *k,
                                                                 const void *arg),
                                                    const void *arg);

#endif
