#include "domain/reconcile.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace tally {

namespace {

// Room kept for finish()'s three projection comparisons.
constexpr std::size_t projection_fields_count = 3;
constexpr std::size_t row_mismatches_max =
    reconcile_mismatches_per_account_max - projection_fields_count;
static_assert(reconcile_mismatches_per_account_max > projection_fields_count,
              "row mismatches need room beside the projection comparison");

// Rows are data under check, not trusted values: a corrupt delta must not overflow the running
// sum (undefined behaviour). Saturating keeps the sum wrong, so the rows after it mismatch.
int64_t add_saturating(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return sum;
}

}  // namespace

void account_replay::add(const journal_row& row) {
  // Written so that no seq, however corrupt, overflows: row.seq - 1 is only taken when
  // row.seq > seq_last_ >= 0.
  const bool is_next = row.seq > seq_last_ && row.seq - 1 == seq_last_;
  if (!is_next) {
    report({"seq_gap", add_saturating(seq_last_, 1), row.seq, row.seq});
  }
  // Resynchronise after a gap so one gap is reported once; a repeated or backward seq leaves the
  // expectation where it was.
  seq_last_ = std::max(seq_last_, row.seq);
  credits_available_ = add_saturating(credits_available_, row.delta_available);
  credits_reserved_ = add_saturating(credits_reserved_, row.delta_reserved);
  if (credits_available_ < 0) {
    report({"negative_balance", credits_available_, row.available_after, row.seq});
  }
  if (credits_reserved_ < 0) {
    report({"negative_balance", credits_reserved_, row.reserved_after, row.seq});
  }
  if (row.available_after != credits_available_) {
    report({"available_after", credits_available_, row.available_after, row.seq});
  }
  if (row.reserved_after != credits_reserved_) {
    report({"reserved_after", credits_reserved_, row.reserved_after, row.seq});
  }
}

std::vector<reconcile_mismatch> account_replay::finish(const account_projection& projection) const {
  std::vector<reconcile_mismatch> mismatches = mismatches_;
  if (credits_available_ != projection.credits_available) {
    mismatches.push_back({"available", credits_available_, projection.credits_available, 0});
  }
  if (credits_reserved_ != projection.credits_reserved) {
    mismatches.push_back({"reserved", credits_reserved_, projection.credits_reserved, 0});
  }
  if (seq_last_ != projection.last_seq) {
    mismatches.push_back({"last_seq", seq_last_, projection.last_seq, 0});
  }
  return mismatches;
}

void account_replay::report(reconcile_mismatch mismatch) {
  if (mismatches_.size() < row_mismatches_max) {
    mismatches_.push_back(std::move(mismatch));
  }
}

}  // namespace tally
