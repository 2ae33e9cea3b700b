#include "domain/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace tally::detail {

void assertion_failed(const char* expression, const char* file, int line) {
  std::fprintf(stderr, "{\"level\":\"critical\",\"msg\":\"assertion failed\",\"expr\":\"%s\","
               "\"file\":\"%s\",\"line\":%d}\n", expression, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace tally::detail
