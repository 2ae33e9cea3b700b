#pragma once
// Hard ceilings (STYLE 2.5). Configuration may lower them, never raise them;
// config::validate enforces that. A reached bound answers errc::overloaded
// (503) or 429, never a longer wait.

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace tally::limits {

// HTTP front end.
inline constexpr std::size_t request_body_bytes_max = 1024 * 1024;  // any route, any setting
inline constexpr std::size_t request_body_bytes_default = 64 * 1024;
inline constexpr std::size_t webhook_body_bytes_default = 256 * 1024;
inline constexpr std::size_t request_header_bytes_max = 16 * 1024;
inline constexpr std::size_t request_header_bytes_default = 8 * 1024;
inline constexpr uint32_t requests_per_connection_default = 10'000;
inline constexpr uint32_t connections_max_default = 10'000;
inline constexpr std::chrono::seconds idle_timeout_default{30};
inline constexpr std::chrono::seconds read_timeout_default{15};
inline constexpr std::size_t json_depth_max = 32;
inline constexpr std::size_t request_id_bytes_max = 128;

// Actor requests: every CAF request takes a timeout shorter than the HTTP
// deadline so the client gets a problem+json, not a dropped connection.
inline constexpr std::chrono::milliseconds actor_request_timeout_default{5'000};

// Database worker pools: connections per bounded context and queued jobs.
inline constexpr uint32_t db_workers_max = 64;
inline constexpr uint32_t db_queue_depth_max = 10'000;

// Identity.
inline constexpr std::size_t password_code_points_min = 8;
inline constexpr std::size_t password_code_points_max = 128;
inline constexpr std::size_t email_bytes_max = 254;
inline constexpr std::size_t refresh_token_bytes_max = 512;

// Supervision: restart delays grow from min to max, doubling.
inline constexpr std::chrono::milliseconds restart_delay_min{100};
inline constexpr std::chrono::milliseconds restart_delay_max{10'000};

// Shutdown: in-flight requests get this long to finish after SIGTERM.
inline constexpr std::chrono::seconds shutdown_grace{10};

static_assert(request_body_bytes_default <= request_body_bytes_max);
static_assert(webhook_body_bytes_default <= request_body_bytes_max);
static_assert(request_header_bytes_default <= request_header_bytes_max);
static_assert(restart_delay_min < restart_delay_max);

}  // namespace tally::limits
