#include "http/idempotency.hpp"

#include "auth/auth.hpp"
#include "http/problem.hpp"

namespace tally::http {
namespace {

bool is_printable_ascii(const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

void refuse(const exchange_ptr& ex, const char* code, const char* detail) {
  problem p = problem_for(errc::invalid_argument, detail);
  p.code = code;
  p.title = "Invalid Idempotency-Key";
  ex->respond_problem(p);
}

}  // namespace

std::optional<idempotency> read_idempotency(const exchange_ptr& ex, const std::string& scope,
                                            key_presence presence) {
  idempotency out;
  out.request_sha256 = auth::sha256_hex(std::string(ex->method()) + " " +
                                        std::string(ex->path()) + "\n" + ex->body());
  auto header = ex->header("idempotency-key");
  if (!header) {
    if (presence == key_presence::required) {
      refuse(ex, "idempotency_key_required", "This endpoint requires an Idempotency-Key header.");
      return std::nullopt;
    }
    return out;
  }
  std::string key(*header);
  if (key.size() >= 2 && key.front() == '"' && key.back() == '"') {
    key = key.substr(1, key.size() - 2);  // RFC 8941 sf-string form
  }
  if (key.empty() || key.size() > idempotency_key_bytes_max || !is_printable_ascii(key)) {
    refuse(ex, "invalid_idempotency_key",
           "Idempotency-Key must be 1-255 printable ASCII characters.");
    return std::nullopt;
  }
  out.scoped_key = scope + ":" + key;
  return out;
}

void mark_replayed(const exchange_ptr& ex) {
  ex->set_response_header("Idempotent-Replayed", "true");
}

}  // namespace tally::http
