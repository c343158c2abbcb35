/* The ledger's commands: ledger-key, receipt, verify-receipt and audit (docs/ledger.md). */
#ifndef LKV_TOOLS_LEDGER_CMD_H
#define LKV_TOOLS_LEDGER_CMD_H

/* Each takes the command's arguments (argv[0] is the command name; not modified) and returns the process
 * exit status: 0 success, 1 failure (a verification or audit that fails, a node that cannot be asked),
 * 2 usage error (message on stderr). --help prints usage on stdout and returns 0. */

/* `ledgerkv ledger-key --data-dir D`: prints the node's Ed25519 public key (hex, then base64). */
int lkv_cmd_ledger_key(int argc, char **argv);

/* `ledgerkv receipt [--endpoints E] (--revision N | --head | --consistency OLD:NEW | --member-keys)`: asks
 * a node's Ledger service and prints the answer as JSON. */
int lkv_cmd_receipt(int argc, char **argv);

/* `ledgerkv verify-receipt (--key K | --endpoints E) FILE [--request-file F --response-file F]`: verifies a
 * receipt JSON (signature with K, or with the key the membership of the cluster at E records for one of
 * its members; leaf, inclusion proof; claims when the request and response are given). */
int lkv_cmd_verify_receipt(int argc, char **argv);

/* `ledgerkv audit --data-dir D [--key K]`: audits the whole ledger (every record, order, head and
 * signature), rebuilds the key-value state from it and compares it with the store; names the first
 * bad record or revision. The server must not be running on D. */
int lkv_cmd_audit(int argc, char **argv);

#endif
