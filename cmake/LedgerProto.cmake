# Generates C message code for ledgerkv's own service (src/proto/ledgerkv.proto) into the same
# directory as etcd's, and adds it to lkv_proto.
set(LKV_LEDGER_PROTO "${CMAKE_SOURCE_DIR}/src/proto/ledgerkv.proto")
set(LKV_LEDGER_PROTO_SRC "${LKV_PROTO_OUT}/ledgerkv.pb-c.c")

add_custom_command(
  OUTPUT "${LKV_LEDGER_PROTO_SRC}" "${LKV_PROTO_OUT}/ledgerkv.pb-c.h"
  COMMAND ${PROTOC_C} -I${CMAKE_SOURCE_DIR}/src/proto --c_out=${LKV_PROTO_OUT} ledgerkv.proto
  DEPENDS "${LKV_LEDGER_PROTO}"
  COMMENT "Generating C code from ledgerkv.proto"
  VERBATIM)

target_sources(lkv_proto PRIVATE "${LKV_LEDGER_PROTO_SRC}")
