#pragma once
// Message payloads exchanged between actors and the HTTP bridge. Plain value
// structs with `inspect`, so CAF can copy, compare and (if ever needed)
// serialize them. They carry no secrets beyond what the receiving actor needs
// (a password travels only from the HTTP handler to an identity worker).

#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>

namespace tally {

// Register or log in.
struct credentials {
  std::string email;     // normalised by the HTTP layer
  std::string password;  // never logged
  std::string source_ip;
  std::string request_id;
};

// What register, login and refresh answer: a user and a fresh token pair.
struct auth_grant {
  std::string user_id;
  std::string email;
  std::string created_at;  // RFC 3339 UTC
  std::string access_token;
  std::string refresh_token;
  int64_t expires_in_s = 0;
};

struct refresh_request {
  std::string refresh_token;
  std::string source_ip;
  std::string request_id;
};

// Logout: deny the access token at once and, when given, end the refresh
// token's session.
struct logout_request {
  std::string user_id;
  std::string jti;
  int64_t access_expires_at_s = 0;
  std::string refresh_token;  // optional
  std::string request_id;
};

struct user_profile {
  std::string user_id;
  std::string email;
  std::string created_at;
};

// Result of one Redis fixed-window counter increment.
struct rate_count {
  int64_t count = 0;
  int64_t ttl_s = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, credentials& x) {
  return f(caf::meta::type_name("credentials"), x.email, x.password, x.source_ip, x.request_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, auth_grant& x) {
  return f(caf::meta::type_name("auth_grant"), x.user_id, x.email, x.created_at, x.access_token,
           x.refresh_token, x.expires_in_s);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, refresh_request& x) {
  return f(caf::meta::type_name("refresh_request"), x.refresh_token, x.source_ip, x.request_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, logout_request& x) {
  return f(caf::meta::type_name("logout_request"), x.user_id, x.jti, x.access_expires_at_s,
           x.refresh_token, x.request_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_profile& x) {
  return f(caf::meta::type_name("user_profile"), x.user_id, x.email, x.created_at);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rate_count& x) {
  return f(caf::meta::type_name("rate_count"), x.count, x.ttl_s);
}

}  // namespace tally
