# Generates C message code from etcd's own .proto files as Debian's golang-etcd-server-dev ships them.
# Nothing is copied into the repository: the sources are read from /usr/share/gocode at build time.
set(LKV_GOCODE "/usr/share/gocode/src" CACHE PATH "Root of Debian's Go source packages")
set(LKV_ETCD_SRC "${LKV_GOCODE}/go.etcd.io/etcd")
set(LKV_GOGO_INC "${LKV_GOCODE}/github.com/gogo/protobuf")
set(LKV_GAPI_INC "${LKV_GOCODE}/github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis")
find_program(PROTOC_C protoc-c REQUIRED)

foreach(f "${LKV_ETCD_SRC}/etcdserver/etcdserverpb/rpc.proto" "${LKV_GOGO_INC}/gogoproto/gogo.proto"
          "${LKV_GAPI_INC}/google/api/annotations.proto" "/usr/include/google/protobuf/descriptor.proto")
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "${f} is missing: run scripts/deps.sh (installs golang-etcd-server-dev, "
                        "golang-github-gogo-protobuf-dev, golang-github-grpc-ecosystem-grpc-gateway-dev, libprotobuf-dev)")
  endif()
endforeach()

# rpc.proto imports "etcd/mvcc/...": give protoc an include root where "etcd" names etcd's source tree.
set(LKV_PROTO_ROOT "${CMAKE_BINARY_DIR}/proto-root")
set(LKV_PROTO_OUT "${CMAKE_BINARY_DIR}/proto-gen")
file(MAKE_DIRECTORY "${LKV_PROTO_ROOT}" "${LKV_PROTO_OUT}")
file(CREATE_LINK "${LKV_ETCD_SRC}" "${LKV_PROTO_ROOT}/etcd" SYMBOLIC)

set(LKV_PROTO_FILES
  etcd/etcdserver/etcdserverpb/rpc.proto
  etcd/etcdserver/api/v3election/v3electionpb/v3election.proto
  etcd/etcdserver/api/v3lock/v3lockpb/v3lock.proto
  etcd/mvcc/mvccpb/kv.proto
  etcd/lease/leasepb/lease.proto
  etcd/auth/authpb/auth.proto
  gogoproto/gogo.proto
  google/api/annotations.proto
  google/api/http.proto
  google/protobuf/descriptor.proto)
set(LKV_PROTO_SRCS)
foreach(p ${LKV_PROTO_FILES})
  string(REGEX REPLACE "\\.proto$" ".pb-c.c" c "${p}")
  list(APPEND LKV_PROTO_SRCS "${LKV_PROTO_OUT}/${c}")
endforeach()

add_custom_command(
  OUTPUT ${LKV_PROTO_SRCS}
  COMMAND ${PROTOC_C} -I${LKV_PROTO_ROOT} -I${LKV_GOGO_INC} -I${LKV_GAPI_INC} -I/usr/include
          --c_out=${LKV_PROTO_OUT} ${LKV_PROTO_FILES}
  DEPENDS "${LKV_ETCD_SRC}/etcdserver/etcdserverpb/rpc.proto"
  COMMENT "Generating C code from etcd's .proto files"
  VERBATIM)

add_library(lkv_proto STATIC ${LKV_PROTO_SRCS})
target_include_directories(lkv_proto SYSTEM PUBLIC "${LKV_PROTO_OUT}")
target_link_libraries(lkv_proto PUBLIC PkgConfig::PROTOBUFC)
# Generated code is not ours to fix; keep the strict warnings for our own sources.
target_compile_options(lkv_proto PRIVATE -Wno-unused-parameter -Wno-error)
