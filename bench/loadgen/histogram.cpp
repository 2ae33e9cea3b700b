#include "bench/loadgen/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace tally::bench {

static_assert(sizeof(unsigned long long) == sizeof(uint64_t), "__builtin_clzll takes 64 bits");

latency_histogram::latency_histogram() : counts_(bucket_count, 0) {}

// Values below 256 have a bucket each. Above, a value with its top bit at
// position b (>= 8) lands in the power-of-two group shift = b - 7, at the
// sub-bucket given by its 8 most significant bits (128..255).
std::size_t latency_histogram::index_of(uint64_t value) {
  if (value < linear_top) {
    return static_cast<std::size_t>(value);
  }
  const unsigned top_bit = 63u - static_cast<unsigned>(__builtin_clzll(value));
  const unsigned shift = top_bit - sub_bucket_bits;
  const uint64_t mantissa = value >> shift;  // in [128, 256)
  return static_cast<std::size_t>(linear_top + (shift - 1) * sub_bucket_count +
                                  (mantissa - sub_bucket_count));
}

uint64_t latency_histogram::upper_bound_of(std::size_t index) {
  if (index < linear_top) {
    return index;
  }
  const uint64_t offset = index - linear_top;
  const uint64_t shift = offset / sub_bucket_count + 1;
  const uint64_t mantissa = offset % sub_bucket_count + sub_bucket_count;
  return ((mantissa + 1) << shift) - 1;
}

void latency_histogram::record(uint64_t latency_us) {
  const uint64_t value = std::min(latency_us, latency_us_max);
  ++counts_[index_of(value)];
  ++count_;
  max_us_ = std::max(max_us_, value);
  sum_us_ += static_cast<long double>(value);
}

void latency_histogram::merge(const latency_histogram& other) {
  for (std::size_t i = 0; i < bucket_count; ++i) {
    counts_[i] += other.counts_[i];
  }
  count_ += other.count_;
  max_us_ = std::max(max_us_, other.max_us_);
  sum_us_ += other.sum_us_;
}

double latency_histogram::mean_us() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_us_ / static_cast<long double>(count_));
}

uint64_t latency_histogram::value_at_quantile(double quantile) const {
  if (count_ == 0) {
    return 0;
  }
  const double clamped = std::clamp(quantile, 0.0, 1.0);
  const auto wanted = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(clamped * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += counts_[i];
    if (seen >= wanted) {
      return std::min(upper_bound_of(i), max_us_);
    }
  }
  return max_us_;
}

}  // namespace tally::bench
