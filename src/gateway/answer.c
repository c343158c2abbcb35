/* The gateway's answers as grpc-gateway (etcd 3.4) writes them: messages, stream chunks, errors. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "gateway/internal.h"

/* grpc-gateway's HTTPStatusFromCode, and Go's http.StatusText of each. */
static const struct {
  int http;
  const char *text;
} http_of_code[] = {
    {200, "OK"},
    {408, "Request Timeout"},       /* Canceled */
    {500, "Internal Server Error"}, /* Unknown */
    {400, "Bad Request"},           /* InvalidArgument */
    {504, "Gateway Timeout"},       /* DeadlineExceeded */
    {404, "Not Found"},
    {409, "Conflict"},  /* AlreadyExists */
    {403, "Forbidden"}, /* PermissionDenied */
    {429, "Too Many Requests"},
    {412, "Precondition Failed"}, /* FailedPrecondition */
    {409, "Conflict"},            /* Aborted */
    {400, "Bad Request"},         /* OutOfRange */
    {501, "Not Implemented"},
    {500, "Internal Server Error"},
    {503, "Service Unavailable"},
    {500, "Internal Server Error"}, /* DataLoss */
    {401, "Unauthorized"},
};

int lkv__gateway_http_status(int grpc_code) {
  return grpc_code >= 0 && grpc_code < (int)(sizeof(http_of_code) / sizeof(http_of_code[0]))
             ? http_of_code[grpc_code].http
             : 500;
}

/* Serialises obj (taken) into a malloc'd text. */
static int take_text(json_object *obj, const char *suffix, char **out, size_t *out_len) {
  if (!obj) return LKV_ENOMEM;
  size_t n, k = strlen(suffix);
  const char *text =
      json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
  char *copy = text ? malloc(n + k + 1) : NULL;
  if (copy) {
    memcpy(copy, text, n);
    memcpy(copy + n, suffix, k + 1);
  }
  json_object_put(obj);
  if (!copy) return LKV_ENOMEM;
  *out = copy;
  *out_len = n + k;
  return 0;
}

static int add(json_object *obj, const char *key, json_object *v) {
  if (!v) return -1;
  if (json_object_object_add(obj, key, v) != 0) {
    json_object_put(v);
    return -1;
  }
  return 0;
}

int lkv__gateway_error_body(int grpc_code, const char *message, char **out, size_t *out_len) {
  json_object *obj = json_object_new_object();
  if (obj && (add(obj, "error", json_object_new_string(message)) != 0 ||
              add(obj, "message", json_object_new_string(message)) != 0 ||
              add(obj, "code", json_object_new_int(grpc_code)) != 0)) {
    json_object_put(obj);
    obj = NULL;
  }
  return take_text(obj, "", out, out_len);
}

/* A unary route's codec. */
static int render_unary(const void *arg, const uint8_t *msg, size_t len, char **out, size_t *out_len) {
  const lkv__gateway_route_t *r = arg;
  return lkv_json_pb_render(r->resp, msg, len, out, out_len);
}

static int fail_unary(const void *arg, int grpc_code, const char *message, char **out, size_t *out_len) {
  (void)arg;
  int rc = lkv__gateway_error_body(grpc_code, message, out, out_len);
  return rc != 0 ? rc : lkv__gateway_http_status(grpc_code);
}

int lkv__gateway_render_framed(const ProtobufCMessageDescriptor *desc, const uint8_t *msg, size_t len,
                               const char *head, const char *tail, char **out, size_t *out_len) {
  char *text;
  size_t n, h = strlen(head), t = strlen(tail);
  int rc = lkv_json_pb_render(desc, msg, len, &text, &n);
  if (rc != 0) return rc;
  char *framed = malloc(h + n + t + 1);
  if (framed) {
    memcpy(framed, head, h);
    memcpy(framed + h, text, n);
    memcpy(framed + h + n, tail, t + 1);
    *out = framed;
    *out_len = h + n + t;
  }
  free(text);
  return framed ? 0 : LKV_ENOMEM;
}

/* A stream's codec: {"result":<message>} and a newline per message; {"error":{...}} at a failure. */
static int render_stream(const void *arg, const uint8_t *msg, size_t len, char **out, size_t *out_len) {
  const lkv__gateway_route_t *r = arg;
  return lkv__gateway_render_framed(r->resp, msg, len, "{\"result\":", "}\n", out, out_len);
}

static int fail_stream(const void *arg, int grpc_code, const char *message, char **out, size_t *out_len) {
  (void)arg;
  int http = lkv__gateway_http_status(grpc_code);
  int known = grpc_code >= 0 && grpc_code < (int)(sizeof(http_of_code) / sizeof(http_of_code[0]));
  json_object *err = json_object_new_object(), *obj = NULL;
  if (!err || add(err, "grpc_code", json_object_new_int(grpc_code)) != 0 ||
      add(err, "http_code", json_object_new_int(http)) != 0 ||
      add(err, "message", json_object_new_string(message)) != 0 ||
      add(err, "http_status", json_object_new_string(known ? http_of_code[grpc_code].text : "")) != 0) {
    json_object_put(err);
    return LKV_ENOMEM;
  }
  obj = json_object_new_object();
  if (!obj || add(obj, "error", err) != 0) { /* add gave err back on failure */
    json_object_put(obj);
    return LKV_ENOMEM;
  }
  int rc = take_text(obj, "", out, out_len);
  return rc != 0 ? rc : http;
}

void lkv__gateway_codec(const lkv__gateway_route_t *r, lkv_http_call_codec_t *c) {
  *c = (lkv_http_call_codec_t){.arg = r,
                               .stream = r->stream,
                               .content_type = "application/json",
                               /* what grpc-gateway copies from the gRPC server's header metadata */
                               .headers = "Grpc-Metadata-Content-Type: application/grpc\r\n",
                               .render = r->stream ? render_stream : render_unary,
                               .fail = r->stream ? fail_stream : fail_unary};
}
