/* Internal to the gateway module: what its files share. */
#ifndef LKV_GATEWAY_INTERNAL_H
#define LKV_GATEWAY_INTERNAL_H

#include <stddef.h>

#include "gateway/json_pb.h"

/* The bytes one value of a field of type t takes in a protobuf-c message (an element of a repeated field). */
size_t lkv__json_pb_elem_size(ProtobufCType t);

#endif
