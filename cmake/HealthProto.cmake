# Generates C message code for gRPC's health service (grpc.health.v1, which etcd registers) from the
# health.proto Debian's golang-google-grpc-dev ships, into the same directory as etcd's, and adds it to
# lkv_proto. Nothing is copied into the repository.
set(LKV_GRPC_PROTO_ROOT "${LKV_GOCODE}/google.golang.org/grpc/debian/missing-sources/grpc/grpc-proto/master"
    CACHE PATH "Root of gRPC's .proto files (golang-google-grpc-dev)")
set(LKV_HEALTH_PROTO "${LKV_GRPC_PROTO_ROOT}/grpc/health/v1/health.proto")
if(NOT EXISTS "${LKV_HEALTH_PROTO}")
  message(FATAL_ERROR "${LKV_HEALTH_PROTO} is missing: run scripts/deps.sh (installs golang-google-grpc-dev)")
endif()
set(LKV_HEALTH_PROTO_SRC "${LKV_PROTO_OUT}/grpc/health/v1/health.pb-c.c")

add_custom_command(
  OUTPUT "${LKV_HEALTH_PROTO_SRC}" "${LKV_PROTO_OUT}/grpc/health/v1/health.pb-c.h"
  COMMAND ${PROTOC_C} -I${LKV_GRPC_PROTO_ROOT} --c_out=${LKV_PROTO_OUT} grpc/health/v1/health.proto
  DEPENDS "${LKV_HEALTH_PROTO}"
  COMMENT "Generating C code from gRPC's health.proto"
  VERBATIM)

target_sources(lkv_proto PRIVATE "${LKV_HEALTH_PROTO_SRC}")
