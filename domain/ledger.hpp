#pragma once
// The ledger's rules over values (DESIGN "The ledger"): which mutations an account's balance
// accepts, the delta each one journals, and the reservation state machine. The ledger actor
// calls these before journaling an entry and `reconcile` shares them, so no rule lives twice.
// Pure: no I/O, no clock reads (time is passed in).
//
// Every function here keeps DESIGN invariant 1 (available >= 0 and reserved >= 0): a mutation
// that would break it is refused with an errc, and apply_delta asserts it after the fact.

#include <cstdint>
#include <optional>
#include <string_view>

#include <caf/expected.hpp>

namespace tally {

// The hard ceiling on an account's credits, total and per field. At 10^15 the sum of two
// in-range balances (or a balance and an in-range delta) cannot overflow int64.
inline constexpr int64_t credits_max = 1'000'000'000'000'000;
static_assert(credits_max <= INT64_MAX / 4, "sums of two balances and a delta must fit in int64");

// What a journal entry did; stored by name in ledger.entries.kind. Values are stable.
enum class entry_kind : uint8_t {
  purchase = 1,  // credits bought through a gateway (uses grant_delta)
  grant,         // credits given by an admin or a promotion (uses grant_delta)
  spend,         // reserve + commit in one entry
  reserve,
  commit,  // a reservation charged, all or part; the rest is released in the same entry
  release,
  expire,  // a reservation that outlived its TTL, released by the engine
  refund,
  adjustment,
};

// The stable lower-case name of `kind` ("purchase", "grant", ...); "unknown" for a value
// outside the enum.
const char* to_string(entry_kind kind);

// Returns the kind whose to_string is exactly `text`, or nullopt (no case folding, no trimming).
std::optional<entry_kind> parse_entry_kind(std::string_view text);

// Credits on one account. Neither field is ever negative (DESIGN invariant 1) and neither
// exceeds credits_max.
struct balance {
  int64_t credits_available = 0;
  int64_t credits_reserved = 0;
};

inline int64_t credits_total(const balance& b) {
  return b.credits_available + b.credits_reserved;
}

inline bool operator==(const balance& a, const balance& b) {
  return a.credits_available == b.credits_available && a.credits_reserved == b.credits_reserved;
}

inline bool operator!=(const balance& a, const balance& b) {
  return !(a == b);
}

// What one journal entry adds to each field of a balance (delta_available, delta_reserved).
struct balance_delta {
  int64_t available = 0;
  int64_t reserved = 0;
};

inline bool operator==(const balance_delta& a, const balance_delta& b) {
  return a.available == b.available && a.reserved == b.reserved;
}

inline bool operator!=(const balance_delta& a, const balance_delta& b) {
  return !(a == b);
}

// Every function below REQUIRES `before` to be a valid balance: both fields in 0..credits_max.

// Returns +`credits` on available (entry kinds grant and purchase), or errc::invalid_argument
// if the account's total would exceed credits_max. The total is bounded, not just available,
// so that a later release or commit can never push available past credits_max.
// REQUIRES: credits > 0.
[[nodiscard]] caf::expected<balance_delta> grant_delta(const balance& before, int64_t credits);

// Returns -`credits` on available (a plain spend: reserve + commit in one entry), or
// errc::insufficient_credits if fewer than `credits` are available.
// REQUIRES: credits > 0.
[[nodiscard]] caf::expected<balance_delta> spend_delta(const balance& before, int64_t credits);

// Returns `credits` moved from available to reserved, or errc::insufficient_credits if fewer
// than `credits` are available. The total is unchanged.
// REQUIRES: credits > 0.
[[nodiscard]] caf::expected<balance_delta> reserve_delta(const balance& before, int64_t credits);

// Returns the delta that settles a reservation of `reservation_credits` by charging
// `commit_credits` of it: reserved -reservation_credits, available +(reservation_credits -
// commit_credits), the uncharged remainder being released in the same entry. Committing 0 is
// allowed (charged nothing, yet committed). errc::validation_failed if commit_credits < 0 or
// commit_credits > reservation_credits.
// REQUIRES: reservation_credits > 0; before.credits_reserved >= reservation_credits (a
// pending reservation is always covered by reserved credits; anything else is a bug).
[[nodiscard]] caf::expected<balance_delta> commit_delta(const balance& before,
                                                        int64_t reservation_credits,
                                                        int64_t commit_credits);

// Returns a whole reservation moved back from reserved to available (entry kinds release and
// expire). It cannot be refused: whether the reservation is still pending is
// reservation_transition's question, and the credits are always covered.
// REQUIRES: reservation_credits > 0; before.credits_reserved >= reservation_credits.
[[nodiscard]] balance_delta release_delta(const balance& before, int64_t reservation_credits);

// Returns `before` plus `delta`. Deltas come from the functions above, so the result is valid.
// REQUIRES: `before` valid; each delta field in -credits_max..credits_max.
// ENSURES (asserted): both result fields in 0..credits_max (DESIGN invariant 1).
[[nodiscard]] balance apply_delta(const balance& before, const balance_delta& delta);

// Where a reservation is. Only pending moves; the other three are final. Values are stable.
//
//              commit  +-----------+
//          +---------> | committed |
//          |           +-----------+
//   +---------+ release +----------+
//   | pending |-------> | released |
//   +---------+         +----------+
//          |   expire  +---------+
//          +---------> | expired |
//                      +---------+
enum class reservation_status : uint8_t { pending = 1, committed, released, expired };

// The stable lower-case name of `status`; "unknown" for a value outside the enum.
const char* to_string(reservation_status status);

// Returns the status whose to_string is exactly `text`, or nullopt.
std::optional<reservation_status> parse_reservation_status(std::string_view text);

// Returns the status after `event` happens to a reservation in `from`: pending becomes
// committed (commit), released (release) or expired (expire). errc::reservation_not_pending if
// `from` is not pending, whatever the event (a second commit, a release after an expiry, ...).
// REQUIRES: if from is pending, event is commit, release or expire (the ledger actor never
// sends a reservation any other event).
[[nodiscard]] caf::expected<reservation_status> reservation_transition(reservation_status from,
                                                                       entry_kind event);

// True when a reservation expiring at `expires_at_ms` has expired at `now_ms`: it expires at
// that instant, not after it. Both are milliseconds since the Unix epoch.
inline bool is_expired(int64_t expires_at_ms, int64_t now_ms) {
  return expires_at_ms <= now_ms;
}

}  // namespace tally
