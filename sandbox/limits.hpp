#pragma once
// The sandbox's hard ceilings (STYLE 2.5). State lives in memory only: when a
// table is full its oldest entry is evicted (docs/sandbox.md "Limits"), so a
// long-running sandbox never grows without bound and never refuses work.

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace tally::sandbox::limits {

inline constexpr std::size_t tokens_max = 10'000;
inline constexpr std::size_t sources_max = 10'000;
inline constexpr std::size_t charges_max = 10'000;
inline constexpr std::size_t events_max = 20'000;
// Refunds one charge may carry (Omise itself caps partial refunds per charge).
inline constexpr std::size_t refunds_per_charge_max = 50;
// Form fields in one request body, and bracket nesting (`a[b][c]`) per key.
inline constexpr std::size_t form_fields_max = 200;
inline constexpr std::size_t form_depth_max = 3;
// Bytes of a free-text field (description, metadata values, card name).
inline constexpr std::size_t text_bytes_max = 1'000;
inline constexpr std::size_t metadata_keys_max = 50;
// Largest amount a charge may have, in minor units (10 million THB).
inline constexpr int64_t amount_max = 1'000'000'000;
// Page size of GET /charges (Omise's own ceiling is 100).
inline constexpr uint32_t list_limit_max = 100;
inline constexpr uint32_t list_limit_default = 20;
// Webhook deliveries waiting to be sent (duplicates and retries included);
// when full the oldest waiting delivery is dropped and logged.
inline constexpr std::size_t webhook_queue_max = 1'000;
inline constexpr uint32_t webhook_attempts_max = 10;
// Chaos bounds: a control never holds a request or a delivery longer.
inline constexpr int64_t latency_ms_max = 60'000;
inline constexpr int64_t timeout_hold_ms_max = 300'000;
inline constexpr int64_t webhook_delay_ms_max = 600'000;
inline constexpr int64_t one_shot_faults_max = 1'000;
// PromptPay QR lifetime bounds (seconds).
inline constexpr int64_t promptpay_ttl_s_max = 7 * 24 * 3600;
// How often pending PromptPay charges are checked for expiry.
inline constexpr std::chrono::milliseconds expiry_sweep_period{1'000};

static_assert(list_limit_default <= list_limit_max);
static_assert(events_max >= charges_max, "each charge makes at least one event");

}  // namespace tally::sandbox::limits
