#pragma once
// Latency histogram of tally_loadgen. Bounded memory whatever the run length:
// log-linear buckets in the layout of HdrHistogram (128 sub-buckets per power
// of two), so every value is reported within 1/128 (< 0.8%) of what was
// recorded. One per load thread, merged at the end; not thread-safe.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tally::bench {

class latency_histogram {
 public:
  latency_histogram();

  // Counts one latency. Values above latency_us_max are counted as latency_us_max.
  void record(uint64_t latency_us);
  void merge(const latency_histogram& other);

  uint64_t count() const { return count_; }
  uint64_t max_us() const { return max_us_; }
  double mean_us() const;
  // Returns the smallest value v such that at least `quantile` (0..1] of the
  // recorded values are <= v, as its bucket's upper bound clamped to the
  // largest value seen; 0 when nothing was recorded.
  uint64_t value_at_quantile(double quantile) const;

  static constexpr uint64_t latency_us_max = uint64_t{1} << 40;  // ~12.7 days

 private:
  static constexpr unsigned sub_bucket_bits = 7;
  static constexpr uint64_t sub_bucket_count = uint64_t{1} << sub_bucket_bits;  // 128
  static constexpr uint64_t linear_top = 2 * sub_bucket_count;                  // exact below
  static constexpr std::size_t bucket_count =
      static_cast<std::size_t>(linear_top + (40 - sub_bucket_bits) * sub_bucket_count);

  static std::size_t index_of(uint64_t value);
  static uint64_t upper_bound_of(std::size_t index);

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t max_us_ = 0;
  long double sum_us_ = 0;
};

}  // namespace tally::bench
