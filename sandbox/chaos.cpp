#include "sandbox/chaos.hpp"

#include "domain/assert.hpp"
#include "sandbox/limits.hpp"

namespace tally::sandbox {

namespace {

using nlohmann::json;

bool is_ratio(double value) {
  return value >= 0.0 && value <= 1.0;
}

void check_ratio(double value, const char* name, std::vector<std::string>& errors) {
  if (!is_ratio(value)) {
    errors.push_back(std::string(name) + " must be between 0 and 1");
  }
}

void check_ms(int64_t value, int64_t max, const char* name, std::vector<std::string>& errors) {
  if (value < 0 || value > max) {
    errors.push_back(std::string(name) + " must be between 0 and " + std::to_string(max));
  }
}

bool read_ratio(const json& value, double& into) {
  if (!value.is_number()) {
    return false;
  }
  into = value.get<double>();
  return true;
}

bool read_ms(const json& value, int64_t& into) {
  if (!value.is_number_integer()) {
    return false;
  }
  into = value.get<int64_t>();
  return true;
}

}  // namespace

bool is_valid(const chaos_settings& settings, std::vector<std::string>& errors) {
  const std::size_t before = errors.size();
  check_ms(settings.latency_ms, limits::latency_ms_max, "latency_ms", errors);
  check_ratio(settings.fail_ratio, "fail_ratio", errors);
  check_ratio(settings.timeout_ratio, "timeout_ratio", errors);
  check_ms(settings.timeout_hold_ms, limits::timeout_hold_ms_max, "timeout_hold_ms", errors);
  check_ms(settings.webhook_delay_ms, limits::webhook_delay_ms_max, "webhook_delay_ms", errors);
  check_ratio(settings.webhook_duplicate_ratio, "webhook_duplicate_ratio", errors);
  check_ratio(settings.webhook_drop_ratio, "webhook_drop_ratio", errors);
  check_ms(settings.fail_next, limits::one_shot_faults_max, "fail_next", errors);
  check_ms(settings.fail_after_effect_next, limits::one_shot_faults_max, "fail_after_effect_next",
           errors);
  check_ms(settings.timeout_next, limits::one_shot_faults_max, "timeout_next", errors);
  return errors.size() == before;
}

bool apply_chaos_update(const json& update, chaos_settings& settings,
                        std::vector<std::string>& errors) {
  if (!update.is_object()) {
    errors.push_back("the body must be a JSON object");
    return false;
  }
  chaos_settings next = settings;
  const std::size_t before = errors.size();
  for (const auto& [name, value] : update.items()) {
    bool ok = true;
    if (name == "latency_ms") {
      ok = read_ms(value, next.latency_ms);
    } else if (name == "fail_ratio") {
      ok = read_ratio(value, next.fail_ratio);
    } else if (name == "timeout_ratio") {
      ok = read_ratio(value, next.timeout_ratio);
    } else if (name == "timeout_hold_ms") {
      ok = read_ms(value, next.timeout_hold_ms);
    } else if (name == "webhook_delay_ms") {
      ok = read_ms(value, next.webhook_delay_ms);
    } else if (name == "webhook_duplicate_ratio") {
      ok = read_ratio(value, next.webhook_duplicate_ratio);
    } else if (name == "webhook_reorder") {
      ok = value.is_boolean();
      if (ok) {
        next.webhook_reorder = value.get<bool>();
      }
    } else if (name == "webhook_drop_ratio") {
      ok = read_ratio(value, next.webhook_drop_ratio);
    } else if (name == "fail_next") {
      ok = read_ms(value, next.fail_next);
    } else if (name == "fail_after_effect_next") {
      ok = read_ms(value, next.fail_after_effect_next);
    } else if (name == "timeout_next") {
      ok = read_ms(value, next.timeout_next);
    } else {
      errors.push_back(name + " is not a chaos control");
      continue;
    }
    if (!ok) {
      errors.push_back(name + " has the wrong type");
    }
  }
  is_valid(next, errors);
  if (errors.size() != before) {
    return false;
  }
  settings = next;
  return true;
}

json to_json(const chaos_settings& settings) {
  return {{"latency_ms", settings.latency_ms},
          {"fail_ratio", settings.fail_ratio},
          {"timeout_ratio", settings.timeout_ratio},
          {"timeout_hold_ms", settings.timeout_hold_ms},
          {"webhook_delay_ms", settings.webhook_delay_ms},
          {"webhook_duplicate_ratio", settings.webhook_duplicate_ratio},
          {"webhook_reorder", settings.webhook_reorder},
          {"webhook_drop_ratio", settings.webhook_drop_ratio},
          {"fail_next", settings.fail_next},
          {"fail_after_effect_next", settings.fail_after_effect_next},
          {"timeout_next", settings.timeout_next}};
}

request_fate decide_request(chaos_settings& settings, double fail_draw, double timeout_draw) {
  TALLY_ASSERT(fail_draw >= 0.0 && fail_draw < 1.0);
  TALLY_ASSERT(timeout_draw >= 0.0 && timeout_draw < 1.0);
  TALLY_ASSERT(settings.fail_next >= 0 && settings.fail_after_effect_next >= 0 &&
               settings.timeout_next >= 0);
  request_fate fate;
  fate.delay = std::chrono::milliseconds(settings.latency_ms);
  if (settings.fail_next > 0) {
    --settings.fail_next;
    fate.is_failed = true;
    return fate;
  }
  if (settings.fail_after_effect_next > 0) {
    --settings.fail_after_effect_next;
    fate.is_failed_after_effect = true;
    return fate;
  }
  if (settings.timeout_next > 0) {
    --settings.timeout_next;
    fate.is_held = true;
    fate.delay += std::chrono::milliseconds(settings.timeout_hold_ms);
    return fate;
  }
  // `draw < ratio`: a ratio of 0 never fires and a ratio of 1 always does.
  if (fail_draw < settings.fail_ratio) {
    fate.is_failed = true;
    return fate;
  }
  if (timeout_draw < settings.timeout_ratio) {
    fate.is_held = true;
    fate.delay += std::chrono::milliseconds(settings.timeout_hold_ms);
  }
  return fate;
}

delivery_fate decide_delivery(const chaos_settings& settings, double drop_draw,
                              double duplicate_draw) {
  TALLY_ASSERT(drop_draw >= 0.0 && drop_draw < 1.0);
  TALLY_ASSERT(duplicate_draw >= 0.0 && duplicate_draw < 1.0);
  delivery_fate fate;
  fate.is_dropped = drop_draw < settings.webhook_drop_ratio;
  fate.is_duplicated = !fate.is_dropped && duplicate_draw < settings.webhook_duplicate_ratio;
  fate.is_reordered = settings.webhook_reorder;
  fate.delay = std::chrono::milliseconds(settings.webhook_delay_ms);
  return fate;
}

}  // namespace tally::sandbox
