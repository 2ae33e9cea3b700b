#pragma once
// Postgres array literals for multi-row writes through unnest($1::T[], ...):
// one statement and one round trip for a whole group-commit batch.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tally::persistence {

// {1,2,3}
std::string int_array(const std::vector<int64_t>& values);

// {"a","b\"c",NULL}: every element quoted and escaped; nullopt and (when
// `empty_is_null`) empty strings become NULL.
std::string text_array(const std::vector<std::string>& values, bool empty_is_null);

}  // namespace tally::persistence
