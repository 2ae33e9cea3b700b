#pragma once
// TALLY_ASSERT: checks an invariant in every build (it ignores NDEBUG, like
// SEASTAR_ASSERT). On failure it writes the expression, file and line to stderr
// and aborts; the journal makes the restart safe. Assertions catch Tally's own
// mistakes; bad input is never asserted, it becomes a tally::errc.

namespace tally::detail {
[[noreturn]] void assertion_failed(const char* expression, const char* file, int line);
}  // namespace tally::detail

#define TALLY_ASSERT(condition)                                         \
  do {                                                                  \
    if (!(condition)) {                                                 \
      ::tally::detail::assertion_failed(#condition, __FILE__, __LINE__); \
    }                                                                   \
  } while (false)
