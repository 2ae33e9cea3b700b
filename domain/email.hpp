#pragma once
// E-mail addresses as Tally stores and compares them: one canonical spelling per
// address, so "Ann@Example.COM " and "Ann@example.com" are the same account.
// A deliberately narrow subset of RFC 5321 (no quoted local parts, no IP-literal
// domains, ASCII only). No I/O: nothing here looks up DNS.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tally {

// RFC 5321 §4.5.3.1 size limits (the path limit of 256 less the angle brackets).
inline constexpr std::size_t email_local_part_bytes_max = 64;
inline constexpr std::size_t email_domain_bytes_max = 253;
inline constexpr std::size_t email_domain_label_bytes_max = 63;
inline constexpr std::size_t email_bytes_max = 254;

// Returns `raw` in canonical form, or nullopt when it is not an address Tally accepts.
// Canonical form: ASCII whitespace trimmed from both ends, domain lower-cased, local
// part kept as typed (some mail servers treat it case-sensitively).
// Accepted after trimming:
//   - exactly one '@' and at most email_bytes_max bytes in all;
//   - a local part of 1..email_local_part_bytes_max printable ASCII characters other
//     than space, '"', '<', '>', ',' and ';';
//   - a domain of 1..email_domain_bytes_max bytes made of at least two dot-separated
//     labels, each 1..email_domain_label_bytes_max letters, digits and hyphens, not
//     starting or ending with a hyphen.
[[nodiscard]] std::optional<std::string> normalize_email(std::string_view raw);

}  // namespace tally
