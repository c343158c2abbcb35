/* HTTP/1.1 answer heads, shared by the metrics listener (http_conn.c) and the client port (h1_conn.c). */
#include <stdio.h>

#include "transport/http_internal.h"

const char *lkv__http_reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Request Entity Too Large";
    case 421:
      return "Misdirected Request";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

int lkv__http_head(char *buf, size_t cap, int status, const char *content_type, const char *headers,
                   const char *more_headers, long long content_length, const char *connection) {
  char length[48] = "Transfer-Encoding: chunked\r\n";
  if (content_length >= 0) snprintf(length, sizeof(length), "Content-Length: %lld\r\n", content_length);
  int n = snprintf(buf, cap, "HTTP/1.1 %d %s\r\n%s%s%s%s%s%s%s\r\n", status, lkv__http_reason(status),
                   content_type ? "Content-Type: " : "", content_type ? content_type : "",
                   content_type ? "\r\n" : "", headers ? headers : "", more_headers ? more_headers : "",
                   length, connection ? connection : "");
  return n > 0 && (size_t)n < cap ? n : -1;
}
