#pragma once
// A small Prometheus registry served by GET /metrics in text format 0.0.4 (conventions.md
// section 8): counters, gauges and fixed-bucket histograms with labels.
//
// Ownership: `main` owns one registry and passes it by reference to whoever records metrics;
// there is no global instance. Metrics are registered at start-up and the references add_*
// returns stay valid for the registry's lifetime.
//
// Threads: every member function may be called from any thread. Recording on an existing series
// takes a shared lock and atomic adds; only the first use of a new label set takes the
// exclusive lock. Each metric keeps at most `series_per_metric_max` label sets: later new sets
// all fold into one series whose label values are all "other", so a client cannot grow memory
// or the /metrics page by sending new paths or methods. Label by route pattern, never by raw
// path, user or account id. Nothing here throws except std::bad_alloc at registration.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tally::http {

inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::size_t series_per_metric_max_default = 512;
// The value every label takes in the series that absorbs label sets beyond the cap.
inline constexpr std::string_view overflow_label_value = "other";
// OpenTelemetry's advisory buckets for http.server.request.duration, in seconds.
inline constexpr std::array<double, 14> duration_buckets_seconds = {
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10};

// Label values in the order of the metric's label names.
using label_values = std::initializer_list<std::string_view>;

namespace detail {

struct counter_series {
  std::atomic<uint64_t> value{0};
};

struct gauge_series {
  std::atomic<double> value{0};
};

struct histogram_series {
  explicit histogram_series(std::size_t bucket_count);
  // Per-bucket (not cumulative) counts; the last slot counts values above every bound.
  std::unique_ptr<std::atomic<uint64_t>[]> bucket_counts;
  std::atomic<double> sum{0};
};

// The label sets of one metric and their series. Implemented in metrics.cpp for the three
// series types above.
template <class Series>
class family {
 public:
  family(std::string name, std::vector<std::string> label_names, std::size_t series_max,
         std::size_t bucket_count);
  ~family();
  family(const family&) = delete;
  family& operator=(const family&) = delete;

  // The series for `labels`, created on first use (or the overflow series past the cap).
  // REQUIRES: labels.size() equals the number of label names.
  Series& get(label_values labels);
  // Calls `visit` for every series in creation order, under the shared lock.
  void for_each(
      const std::function<void(const std::vector<std::string>&, const Series&)>& visit) const;
  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  std::size_t series_count() const;

 private:
  struct entry;
  Series& create(std::string key, std::vector<std::string> values);  // REQUIRES: mutex_ held

  std::string name_;
  std::vector<std::string> label_names_;
  std::size_t series_max_;
  std::size_t bucket_count_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, Series*> index_;  // guarded by mutex_
  std::vector<std::unique_ptr<entry>> entries_;     // guarded by mutex_
  Series* overflow_ = nullptr;                      // guarded by mutex_
};

class metric {
 public:
  virtual ~metric() = default;
  virtual const std::string& name() const = 0;
  // Appends # HELP, # TYPE and every sample line.
  virtual void render(std::string& out) const = 0;
};

}  // namespace detail

// A monotonic count (names end in _total).
class counter final : public detail::metric {
 public:
  // A handle to one label set; cache it on hot paths to skip the lookup.
  class series {
   public:
    void inc(uint64_t n = 1) { state_.value.fetch_add(n, std::memory_order_relaxed); }
    uint64_t value() const { return state_.value.load(std::memory_order_relaxed); }

   private:
    friend class counter;
    explicit series(detail::counter_series& state) : state_(state) {}
    detail::counter_series& state_;
  };

  counter(std::string name, std::string help, std::vector<std::string> label_names,
          std::size_t series_max);
  void inc(label_values labels, uint64_t n = 1) { with(labels).inc(n); }
  void inc(uint64_t n = 1) { with({}).inc(n); }
  series with(label_values labels) { return series(family_.get(labels)); }
  std::size_t series_count() const { return family_.series_count(); }

  const std::string& name() const override { return family_.name(); }
  void render(std::string& out) const override;

 private:
  std::string help_;
  detail::family<detail::counter_series> family_;
};

// A value that goes up and down (in-flight requests, pool sizes).
class gauge final : public detail::metric {
 public:
  class series {
   public:
    void set(double value) { state_.value.store(value, std::memory_order_relaxed); }
    void add(double delta);
    double value() const { return state_.value.load(std::memory_order_relaxed); }

   private:
    friend class gauge;
    explicit series(detail::gauge_series& state) : state_(state) {}
    detail::gauge_series& state_;
  };

  gauge(std::string name, std::string help, std::vector<std::string> label_names,
        std::size_t series_max);
  void set(label_values labels, double value) { with(labels).set(value); }
  void set(double value) { with({}).set(value); }
  void add(label_values labels, double delta) { with(labels).add(delta); }
  void add(double delta) { with({}).add(delta); }
  series with(label_values labels) { return series(family_.get(labels)); }
  std::size_t series_count() const { return family_.series_count(); }

  const std::string& name() const override { return family_.name(); }
  void render(std::string& out) const override;

 private:
  std::string help_;
  detail::family<detail::gauge_series> family_;
};

// Observations counted into fixed buckets (durations in seconds, sizes in bytes).
class histogram final : public detail::metric {
 public:
  class series {
   public:
    // NaN is ignored (it would poison _sum); other values land in the first bucket whose
    // upper bound is >= the value, or only in +Inf.
    void observe(double value);

   private:
    friend class histogram;
    series(detail::histogram_series& state, const std::vector<double>& bounds)
        : state_(state), bounds_(bounds) {}
    detail::histogram_series& state_;
    const std::vector<double>& bounds_;
  };

  // REQUIRES: `bounds` is non-empty, finite and strictly increasing; no label is named "le".
  histogram(std::string name, std::string help, std::vector<std::string> label_names,
            std::vector<double> bounds, std::size_t series_max);
  void observe(label_values labels, double value) { with(labels).observe(value); }
  void observe(double value) { with({}).observe(value); }
  series with(label_values labels) { return series(family_.get(labels), bounds_); }
  std::size_t series_count() const { return family_.series_count(); }

  const std::string& name() const override { return family_.name(); }
  void render(std::string& out) const override;

 private:
  std::string help_;
  std::vector<double> bounds_;
  detail::family<detail::histogram_series> family_;
};

class registry {
 public:
  explicit registry(std::size_t series_per_metric_max = series_per_metric_max_default);
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  // Each returns a reference valid for the registry's lifetime.
  // REQUIRES: `name` matches [a-zA-Z_:][a-zA-Z0-9_:]* and is not registered yet; label names
  // match [a-zA-Z_][a-zA-Z0-9_]*, do not start with "__" and are unique.
  counter& add_counter(std::string name, std::string help,
                       std::vector<std::string> label_names = {});
  gauge& add_gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  histogram& add_histogram(std::string name, std::string help,
                           std::vector<std::string> label_names = {},
                           std::vector<double> bounds = {duration_buckets_seconds.begin(),
                                                         duration_buckets_seconds.end()});

  // The exposition text of every metric, in registration order, ending with '\n'.
  std::string render() const;

 private:
  void check_new_name(const std::string& name) const;  // REQUIRES: mutex_ held

  std::size_t series_per_metric_max_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<detail::metric>> metrics_;  // guarded by mutex_
};

}  // namespace tally::http
