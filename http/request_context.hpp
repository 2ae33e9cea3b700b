#pragma once
// Per-request correlation: the X-Request-Id every response carries (API.md: echoed when the
// request sent a sane one, else generated) and the W3C Trace Context `traceparent` that Tally
// passes through to gateways, webhooks and CloudEvents (conventions.md section 7).
// Pure except for new_request_id/new_span_id/new_trace_id, which draw from a per-thread
// generator. Nothing here throws.

#include <optional>
#include <string>
#include <string_view>

namespace tally::http {

// Whether an incoming X-Request-Id may be echoed: 1..128 characters of [A-Za-z0-9._-]. Anything
// else (spaces, quotes, control bytes, a 4 KiB value) is replaced, never logged as is.
bool is_sane_request_id(std::string_view id);

// 32 lowercase hex characters (16 random bytes). Unique enough to correlate logs; not a secret,
// so the generator is a std::random_device-seeded engine per thread, not a CSPRNG.
std::string new_request_id();

// A W3C traceparent, its fields kept as the lowercase hex text of the header.
struct traceparent {
  std::string trace_id;   // 32 hex, not all zero
  std::string parent_id;  // 16 hex, not all zero: the caller's span
  std::string flags;      // 2 hex; bit 0x01 = sampled
};

// Parses a `traceparent` header value (Trace Context, section 3.2). Returns std::nullopt, so the
// caller starts a new trace, for: a length other than 55 for version 00; a version that is not
// two lowercase hex digits or is "ff"; upper-case or non-hex digits; missing dashes; an
// all-zero trace-id or parent-id. A future version (01..fe) is read by its first 55 characters
// when the next character, if any, is '-'.
std::optional<traceparent> parse_traceparent(std::string_view header);

// "00-<trace_id>-<parent_id>-<flags>". REQUIRES: the fields are well-formed (parse_traceparent
// or the new_* functions made them); anything else gives an empty string.
std::string format_traceparent(const traceparent& trace);

std::string new_trace_id();  // 32 hex characters, never all zero
std::string new_span_id();   // 16 hex characters, never all zero

// What a request carries through the engine.
struct request_context {
  std::string request_id;
  // The trace this request belongs to; parent_id is the span Tally opened for this request, to
  // send downstream. incoming_parent_id is the caller's span, empty when Tally started the trace.
  traceparent trace;
  std::string incoming_parent_id;
};

// Builds the context from the request's X-Request-Id and traceparent header values (absent or
// invalid ones are replaced by new ones).
request_context make_request_context(std::optional<std::string_view> request_id_header,
                                     std::optional<std::string_view> traceparent_header);

}  // namespace tally::http
