#include "http/request_context.hpp"

#include <chrono>
#include <cstdint>
#include <random>
#include <thread>

#include "config/limits.hpp"

namespace tally::http {

namespace {

constexpr std::size_t traceparent_chars = 55;  // version 00: 2 + 1 + 32 + 1 + 16 + 1 + 2
constexpr std::size_t trace_id_chars = 32;
constexpr std::size_t span_id_chars = 16;

bool is_request_id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool is_lower_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

bool is_all_zero(std::string_view text) {
  return text.find_first_not_of('0') == std::string_view::npos;
}

uint64_t seed_value() {
  try {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  } catch (const std::exception&) {
    // No entropy source: ids only need to differ, so mix the clock and the thread.
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    return static_cast<uint64_t>(now) ^ std::hash<std::thread::id>{}(std::this_thread::get_id());
  }
}

std::mt19937_64& generator() {
  thread_local std::mt19937_64 engine(seed_value());
  return engine;
}

// `chars` random lowercase hex characters, never all zero.
std::string random_hex(std::size_t chars) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text(chars, '0');
  while (is_all_zero(text)) {
    for (std::size_t index = 0; index < chars; index += 16) {
      uint64_t bits = generator()();
      for (std::size_t offset = index; offset < chars && offset < index + 16; ++offset) {
        text[offset] = digits[bits & 0xF];
        bits >>= 4;
      }
    }
  }
  return text;
}

bool is_well_formed(const traceparent& trace) {
  return trace.trace_id.size() == trace_id_chars && is_lower_hex(trace.trace_id) &&
         !is_all_zero(trace.trace_id) && trace.parent_id.size() == span_id_chars &&
         is_lower_hex(trace.parent_id) && !is_all_zero(trace.parent_id) &&
         trace.flags.size() == 2 && is_lower_hex(trace.flags);
}

}  // namespace

bool is_sane_request_id(std::string_view id) {
  if (id.empty() || id.size() > limits::request_id_bytes_max) {
    return false;
  }
  for (char c : id) {
    if (!is_request_id_char(c)) {
      return false;
    }
  }
  return true;
}

std::string new_request_id() {
  return random_hex(trace_id_chars);
}

std::string new_trace_id() {
  return random_hex(trace_id_chars);
}

std::string new_span_id() {
  return random_hex(span_id_chars);
}

std::optional<traceparent> parse_traceparent(std::string_view header) {
  if (header.size() < traceparent_chars) {
    return std::nullopt;
  }
  const std::string_view version = header.substr(0, 2);
  if (!is_lower_hex(version) || version == "ff") {
    return std::nullopt;
  }
  if (version == "00" ? header.size() != traceparent_chars
                      : header.size() > traceparent_chars && header[traceparent_chars] != '-') {
    return std::nullopt;
  }
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') {
    return std::nullopt;
  }
  traceparent trace{std::string(header.substr(3, trace_id_chars)),
                    std::string(header.substr(36, span_id_chars)),
                    std::string(header.substr(53, 2))};
  if (!is_well_formed(trace)) {
    return std::nullopt;
  }
  return trace;
}

std::string format_traceparent(const traceparent& trace) {
  if (!is_well_formed(trace)) {
    return {};
  }
  std::string header;
  header.reserve(traceparent_chars);
  header.append("00-").append(trace.trace_id).append("-").append(trace.parent_id).append("-");
  header.append(trace.flags);
  return header;
}

request_context make_request_context(std::optional<std::string_view> request_id_header,
                                     std::optional<std::string_view> traceparent_header) {
  request_context context;
  context.request_id = request_id_header && is_sane_request_id(*request_id_header)
                           ? std::string(*request_id_header)
                           : new_request_id();
  auto incoming = traceparent_header ? parse_traceparent(*traceparent_header) : std::nullopt;
  if (incoming) {
    context.incoming_parent_id = std::move(incoming->parent_id);
    context.trace = std::move(*incoming);
  } else {
    // Tally records no spans of its own, so a trace it starts is not marked sampled.
    context.trace.trace_id = new_trace_id();
    context.trace.flags = "00";
  }
  context.trace.parent_id = new_span_id();
  return context;
}

}  // namespace tally::http
