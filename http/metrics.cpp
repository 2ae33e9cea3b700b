#include "http/metrics.hpp"

#include <charconv>
#include <cmath>
#include <type_traits>

#include "domain/assert.hpp"

namespace tally::http {

namespace {

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

bool is_metric_name(std::string_view name) {
  if (name.empty() || !(is_name_start(name.front()) || name.front() == ':')) {
    return false;
  }
  for (char c : name) {
    if (!is_name_char(c) && c != ':') {
      return false;
    }
  }
  return true;
}

bool is_label_name(std::string_view name) {
  if (name.empty() || !is_name_start(name.front()) || name.substr(0, 2) == "__") {
    return false;
  }
  for (char c : name) {
    if (!is_name_char(c)) {
      return false;
    }
  }
  return true;
}

void check_label_names(const std::vector<std::string>& label_names) {
  for (std::size_t index = 0; index < label_names.size(); ++index) {
    TALLY_ASSERT(is_label_name(label_names[index]));
    for (std::size_t earlier = 0; earlier < index; ++earlier) {
      TALLY_ASSERT(label_names[earlier] != label_names[index]);
    }
  }
}

// An unambiguous map key: each value prefixed with its length.
template <class Range>
std::string series_key(const Range& labels) {
  std::string key;
  for (std::string_view value : labels) {
    key.append(std::to_string(value.size())).push_back(':');
    key.append(value);
  }
  return key;
}

void add_double(std::atomic<double>& target, double delta) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

// Prometheus float text: shortest round-trip form, or +Inf, -Inf, NaN.
void append_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out.append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out.append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  std::array<char, 64> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out.append(buffer.data(), result.ptr);
}

void append_escaped_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '"') {
      out.append("\\\"");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
}

void append_header(std::string& out, const std::string& name, std::string_view help,
                   std::string_view type) {
  out.append("# HELP ").append(name).push_back(' ');
  for (char c : help) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  out.append("\n# TYPE ").append(name).push_back(' ');
  out.append(type).push_back('\n');
}

// `{a="x",b="y"}` (with an optional le pair last), or nothing when there are no labels at all.
void append_labels(std::string& out, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, std::string_view le = {}) {
  if (names.empty() && le.empty()) {
    return;
  }
  out.push_back('{');
  for (std::size_t index = 0; index < names.size(); ++index) {
    if (index > 0) {
      out.push_back(',');
    }
    out.append(names[index]).append("=\"");
    append_escaped_label_value(out, values[index]);
    out.push_back('"');
  }
  if (!le.empty()) {
    if (!names.empty()) {
      out.push_back(',');
    }
    out.append("le=\"").append(le).push_back('"');
  }
  out.push_back('}');
}

}  // namespace

// ---- detail::family ----

namespace detail {

histogram_series::histogram_series(std::size_t bucket_count)
    : bucket_counts(std::make_unique<std::atomic<uint64_t>[]>(bucket_count)) {
  for (std::size_t index = 0; index < bucket_count; ++index) {
    bucket_counts[index].store(0, std::memory_order_relaxed);
  }
}

template <class Series>
struct family<Series>::entry {
  entry(std::vector<std::string> values, std::size_t bucket_count)
      : label_values(std::move(values)), series(make_series(bucket_count)) {}
  // Series hold atomics, which neither copy nor move: built in place (C++17 elision).
  static Series make_series(std::size_t bucket_count) {
    if constexpr (std::is_same_v<Series, histogram_series>) {
      return Series(bucket_count);
    } else {
      static_cast<void>(bucket_count);
      return Series{};
    }
  }
  std::vector<std::string> label_values;
  Series series;
};

template <class Series>
family<Series>::family(std::string name, std::vector<std::string> label_names,
                       std::size_t series_max, std::size_t bucket_count)
    : name_(std::move(name)),
      label_names_(std::move(label_names)),
      series_max_(series_max),
      bucket_count_(bucket_count) {
  TALLY_ASSERT(series_max_ >= 1);
  if (label_names_.empty()) {
    // An unlabelled metric is exported as 0 before its first use, as Prometheus expects.
    std::unique_lock lock(mutex_);
    create(std::string(), {});  // the key of no labels
  }
}

template <class Series>
family<Series>::~family() = default;

template <class Series>
Series& family<Series>::get(label_values labels) {
  TALLY_ASSERT(labels.size() == label_names_.size());
  std::string key = series_key(labels);
  {
    std::shared_lock lock(mutex_);
    const auto found = index_.find(key);
    if (found != index_.end()) {
      return *found->second;
    }
    if (index_.size() >= series_max_ && overflow_ != nullptr) {
      return *overflow_;  // past the cap: no exclusive lock per unseen label set
    }
  }
  std::unique_lock lock(mutex_);
  const auto found = index_.find(key);  // another thread may have created it meanwhile
  if (found != index_.end()) {
    return *found->second;
  }
  if (index_.size() < series_max_) {
    return create(std::move(key), std::vector<std::string>(labels.begin(), labels.end()));
  }
  if (overflow_ == nullptr) {
    // Reuse a real all-"other" series if a caller already made one: label sets stay unique.
    std::vector<std::string> values(label_names_.size(), std::string(overflow_label_value));
    std::string overflow_key = series_key(values);
    const auto existing = index_.find(overflow_key);
    overflow_ = existing != index_.end() ? existing->second
                                         : &create(std::move(overflow_key), std::move(values));
  }
  return *overflow_;
}

template <class Series>
Series& family<Series>::create(std::string key, std::vector<std::string> values) {
  entries_.push_back(std::make_unique<entry>(std::move(values), bucket_count_));
  Series& created = entries_.back()->series;
  index_.emplace(std::move(key), &created);
  return created;
}

template <class Series>
void family<Series>::for_each(
    const std::function<void(const std::vector<std::string>&, const Series&)>& visit) const {
  std::shared_lock lock(mutex_);
  for (const auto& item : entries_) {
    visit(item->label_values, item->series);
  }
}

template <class Series>
std::size_t family<Series>::series_count() const {
  std::shared_lock lock(mutex_);
  return entries_.size();
}

template class family<counter_series>;
template class family<gauge_series>;
template class family<histogram_series>;

}  // namespace detail

// ---- counter, gauge, histogram ----

counter::counter(std::string name, std::string help, std::vector<std::string> label_names,
                 std::size_t series_max)
    : help_(std::move(help)), family_(std::move(name), std::move(label_names), series_max, 0) {}

void counter::render(std::string& out) const {
  append_header(out, name(), help_, "counter");
  family_.for_each([&](const std::vector<std::string>& values, const detail::counter_series& s) {
    out.append(name());
    append_labels(out, family_.label_names(), values);
    out.push_back(' ');
    out.append(std::to_string(s.value.load(std::memory_order_relaxed))).push_back('\n');
  });
}

void gauge::series::add(double delta) {
  add_double(state_.value, delta);
}

gauge::gauge(std::string name, std::string help, std::vector<std::string> label_names,
             std::size_t series_max)
    : help_(std::move(help)), family_(std::move(name), std::move(label_names), series_max, 0) {}

void gauge::render(std::string& out) const {
  append_header(out, name(), help_, "gauge");
  family_.for_each([&](const std::vector<std::string>& values, const detail::gauge_series& s) {
    out.append(name());
    append_labels(out, family_.label_names(), values);
    out.push_back(' ');
    append_double(out, s.value.load(std::memory_order_relaxed));
    out.push_back('\n');
  });
}

void histogram::series::observe(double value) {
  if (std::isnan(value)) {
    return;
  }
  std::size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) {
    ++bucket;
  }
  state_.bucket_counts[bucket].fetch_add(1, std::memory_order_relaxed);
  add_double(state_.sum, value);
}

histogram::histogram(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> bounds, std::size_t series_max)
    : help_(std::move(help)),
      bounds_(std::move(bounds)),
      family_(std::move(name), std::move(label_names), series_max, bounds_.size() + 1) {
  TALLY_ASSERT(!bounds_.empty());
  for (std::size_t index = 0; index < bounds_.size(); ++index) {
    TALLY_ASSERT(std::isfinite(bounds_[index]));
    TALLY_ASSERT(index == 0 || bounds_[index - 1] < bounds_[index]);
  }
  for (const auto& label : family_.label_names()) {
    TALLY_ASSERT(label != "le");
  }
}

void histogram::render(std::string& out) const {
  append_header(out, name(), help_, "histogram");
  family_.for_each([&](const std::vector<std::string>& values, const detail::histogram_series& s) {
    // _count is the +Inf bucket by construction, so the two always agree even while
    // observations race with rendering.
    uint64_t cumulative = 0;
    std::string le;
    for (std::size_t index = 0; index <= bounds_.size(); ++index) {
      cumulative += s.bucket_counts[index].load(std::memory_order_relaxed);
      le.clear();
      if (index < bounds_.size()) {
        append_double(le, bounds_[index]);
      } else {
        le = "+Inf";
      }
      out.append(name()).append("_bucket");
      append_labels(out, family_.label_names(), values, le);
      out.push_back(' ');
      out.append(std::to_string(cumulative)).push_back('\n');
    }
    out.append(name()).append("_sum");
    append_labels(out, family_.label_names(), values);
    out.push_back(' ');
    append_double(out, s.sum.load(std::memory_order_relaxed));
    out.append("\n").append(name()).append("_count");
    append_labels(out, family_.label_names(), values);
    out.push_back(' ');
    out.append(std::to_string(cumulative)).push_back('\n');
  });
}

// ---- registry ----

registry::registry(std::size_t series_per_metric_max)
    : series_per_metric_max_(series_per_metric_max) {
  TALLY_ASSERT(series_per_metric_max_ >= 1);
}

registry::~registry() = default;

void registry::check_new_name(const std::string& name) const {
  TALLY_ASSERT(is_metric_name(name));
  for (const auto& existing : metrics_) {
    TALLY_ASSERT(existing->name() != name);
  }
}

counter& registry::add_counter(std::string name, std::string help,
                               std::vector<std::string> label_names) {
  check_label_names(label_names);
  std::lock_guard lock(mutex_);
  check_new_name(name);
  auto created = std::make_unique<counter>(std::move(name), std::move(help), std::move(label_names),
                                           series_per_metric_max_);
  counter& result = *created;
  metrics_.push_back(std::move(created));
  return result;
}

gauge& registry::add_gauge(std::string name, std::string help,
                           std::vector<std::string> label_names) {
  check_label_names(label_names);
  std::lock_guard lock(mutex_);
  check_new_name(name);
  auto created = std::make_unique<gauge>(std::move(name), std::move(help), std::move(label_names),
                                         series_per_metric_max_);
  gauge& result = *created;
  metrics_.push_back(std::move(created));
  return result;
}

histogram& registry::add_histogram(std::string name, std::string help,
                                   std::vector<std::string> label_names,
                                   std::vector<double> bounds) {
  check_label_names(label_names);
  std::lock_guard lock(mutex_);
  check_new_name(name);
  auto created =
      std::make_unique<histogram>(std::move(name), std::move(help), std::move(label_names),
                                  std::move(bounds), series_per_metric_max_);
  histogram& result = *created;
  metrics_.push_back(std::move(created));
  return result;
}

std::string registry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& item : metrics_) {
    item->render(out);
  }
  return out;
}

}  // namespace tally::http
