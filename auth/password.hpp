#pragma once
// Password policy and storage: argon2id through libsodium with OWASP's minimum
// parameters (conventions.md §6c: m = 19456 KiB, t = 2, p = 1). Hashing and
// verifying take tens of milliseconds and 19 MiB each: call them from a detached
// (blocking) actor, never on an io thread, and cap how many run at once.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally::auth {

// Length bounds, in Unicode code points (a multibyte character counts once).
inline constexpr std::size_t password_code_points_min = 8;
inline constexpr std::size_t password_code_points_max = 128;
// Longest acceptable encoding (four bytes per code point); longer input is refused
// before decoding.
inline constexpr std::size_t password_bytes_max = 4 * password_code_points_max;

// argon2id cost. libsodium always uses one lane (p = 1).
inline constexpr uint64_t password_hash_opslimit = 2;
inline constexpr std::size_t password_hash_memlimit_kib = 19456;  // 19 MiB
inline constexpr std::size_t password_hash_memlimit_bytes = password_hash_memlimit_kib * 1024;

// Returns nullopt when `password` is acceptable for a new or changed password, or a
// sentence for the client saying what is wrong: it must be well-formed UTF-8, hold no
// control characters (C0, DEL, C1; NUL included) and have
// password_code_points_min..password_code_points_max code points.
[[nodiscard]] std::optional<std::string> password_policy_violation(std::string_view password);

// Returns the PHC-format argon2id string ("$argon2id$v=19$m=19456,t=2,p=1$...") for
// `password` under a fresh random salt, ready to store.
// REQUIRES: password_policy_violation(password) is nullopt (the caller checked).
// Aborts if libsodium cannot allocate the 19 MiB work area.
[[nodiscard]] std::string hash_password(std::string_view password);

// Returns true when `password` matches `encoded_hash` (a string from hash_password,
// or any argon2i/argon2id string libsodium understands). Returns false for a wrong
// password and for a malformed or oversized `encoded_hash`.
[[nodiscard]] bool verify_password(std::string_view password, std::string_view encoded_hash);

// Returns true when `encoded_hash` is not an argon2id string with the current
// parameters (older parameters, argon2i, or malformed), so it should be replaced by
// hash_password after the next successful login (OWASP: re-hash at next login).
[[nodiscard]] bool password_needs_rehash(std::string_view encoded_hash);

// Verifies `password` against a fixed dummy hash with the current parameters and
// discards the result. Login calls it when the e-mail is unknown, so that answer
// costs as much time as a wrong password and does not reveal which accounts exist.
// The dummy hash is computed on first use (one extra hash, thread-safe).
void burn_password_verification(std::string_view password);

}  // namespace tally::auth
