/* The version numbers ledgerkv reports: its own release, and the etcd release it stands in for. */
#ifndef LKV_SERVER_VERSION_H
#define LKV_SERVER_VERSION_H

/* ledgerkv's own release; keep in step with project(VERSION) in the top-level CMakeLists.txt. */
#define LKV_VERSION "0.1.0"

/* The etcd version reported where etcd reports its own (Maintenance.Status "version", --version).
 * Clients gate features on it, so it must be a semver of the etcd line whose API we speak, not our own
 * release: kube-apiserver turns watch progress requests off for etcd 3.4 releases below 3.4.31, and
 * ledgerkv implements them. */
#define LKV_ETCD_VERSION "3.4.31"

/* The etcd API (major.minor) ledgerkv speaks: the v3 gRPC API as of etcd 3.4. */
#define LKV_ETCD_API_VERSION "3.4"

#endif
