#pragma once
// Checks DESIGN invariant 2: replaying an account's journal (ledger.entries) gives exactly its
// projection (ledger.accounts), and invariant 1 at every step of the way. Used by the
// `reconcile` command and GET /v1/admin/reconcile; pure, so the callers own the reading.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tally {

// Mismatches kept per account. One bad delta makes every later after-value disagree too, so
// the first few say all there is to say; the bound keeps a million-entry account's report
// (and memory) small.
inline constexpr std::size_t reconcile_mismatches_per_account_max = 16;

// One row of ledger.entries, as much of it as the check needs.
struct journal_row {
  int64_t seq;
  int64_t delta_available;
  int64_t delta_reserved;
  int64_t available_after;
  int64_t reserved_after;
};

// One row of ledger.accounts.
struct account_projection {
  int64_t credits_available;
  int64_t credits_reserved;
  int64_t last_seq;
};

// One disagreement. `field` is one of:
//   "available", "reserved", "last_seq": the replayed journal vs the projection (seq 0);
//   "seq_gap": the row at `seq` is out of order; journal = the seq expected, projection = seq;
//   "available_after", "reserved_after": the row's stored after-value disagrees with the
//     running sum of deltas; journal = running sum, projection = stored value;
//   "negative_balance": the running sum of one field went below zero at `seq`; journal = the
//     running sum, projection = the row's stored after-value for that field.
struct reconcile_mismatch {
  std::string field;
  int64_t journal = 0;
  int64_t projection = 0;
  int64_t seq = 0;  // the journal row where it was found; 0 for a projection comparison
};

inline bool operator==(const reconcile_mismatch& a, const reconcile_mismatch& b) {
  return a.field == b.field && a.journal == b.journal && a.projection == b.projection &&
         a.seq == b.seq;
}

// Replays one account's journal a row at a time, so the caller can stream rows from a cursor
// and never hold them all. Owned by whoever reads the account; lives for one account's check.
// Rows must arrive in seq order starting at 1 with no gaps or repeats (anything else is
// reported, not asserted: the rows are data being checked). Running sums start at 0 and add
// every row's deltas, repeated rows included, as a replay would.
class account_replay {
 public:
  // Checks `row` against the rows before it and adds its deltas.
  void add(const journal_row& row);

  // Returns the mismatches found, at most reconcile_mismatches_per_account_max, in the order
  // found: row mismatches first (the earliest ones, at most the bound less the three
  // projection fields, so the comparison with `projection` is always reported), then that
  // comparison. An empty result means the account is consistent; an empty journal is
  // consistent with an all-zero projection.
  [[nodiscard]] std::vector<reconcile_mismatch> finish(const account_projection& projection) const;

 private:
  void report(reconcile_mismatch mismatch);

  int64_t seq_last_ = 0;  // the highest seq seen; 0 while the journal is empty
  int64_t credits_available_ = 0;
  int64_t credits_reserved_ = 0;
  std::vector<reconcile_mismatch> mismatches_;
};

}  // namespace tally
