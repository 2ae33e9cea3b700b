#include "http/router.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <map>

#include "domain/assert.hpp"

namespace tally::http {

namespace {

struct segment_spec {
  bool is_param = false;
  std::string text;  // the literal, or the parameter's name
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Whether a raw path segment can be a parameter value: non-empty, valid percent-encoding, and
// neither '/' nor NUL once decoded. Checked without allocating, for every segment of a request.
bool is_param_value(std::string_view raw) {
  if (raw.empty()) {
    return false;
  }
  for (std::size_t index = 0; index < raw.size(); ++index) {
    if (raw[index] == '\0') {
      return false;
    }
    if (raw[index] != '%') {
      continue;
    }
    if (raw.size() - index < 3) {
      return false;
    }
    const int high = hex_value(raw[index + 1]);
    const int low = hex_value(raw[index + 2]);
    if (high < 0 || low < 0) {
      return false;
    }
    const int byte = high * 16 + low;
    if (byte == '/' || byte == 0) {
      return false;
    }
    index += 2;
  }
  return true;
}

bool is_method_token(std::string_view method) {
  if (method.empty()) {
    return false;
  }
  return std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool is_param_name(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Splits "/a/b" into {"a", "b"}; "/" gives no segments. Returns false past `segments_max`.
template <class Out>
bool split_path(std::string_view path, Out& out, std::size_t& count) {
  count = 0;
  if (path == "/") {
    return true;
  }
  std::size_t start = 1;
  while (true) {
    if (count == path_segments_max) {
      return false;
    }
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    out[count++] = path.substr(start, end - start);
    if (slash == std::string_view::npos) {
      return true;
    }
    start = slash + 1;
  }
}

// "DELETE, GET": sorted, without duplicates, as the Allow header lists them.
std::string join_methods(std::vector<std::string_view> methods) {
  std::sort(methods.begin(), methods.end());
  methods.erase(std::unique(methods.begin(), methods.end()), methods.end());
  std::string joined;
  for (std::size_t index = 0; index < methods.size(); ++index) {
    if (index > 0) {
      joined.append(", ");
    }
    joined.append(methods[index]);
  }
  return joined;
}

}  // namespace

struct router::node {
  std::map<std::string, std::unique_ptr<node>, std::less<>> literals;
  std::unique_ptr<node> parameter;
  // Routes ending here: (method, route index).
  std::vector<std::pair<std::string, std::size_t>> methods;
};

struct router::route {
  std::string method;
  std::string pattern;
  std::vector<segment_spec> segments;
};

std::optional<std::string_view> route_match::param(std::string_view name) const {
  for (const auto& entry : params) {
    if (entry.name == name) {
      return std::string_view(entry.value);
    }
  }
  return std::nullopt;
}

router::router() : root_(std::make_unique<node>()) {}

router::~router() = default;

std::size_t router::add(std::string_view method, std::string_view pattern) {
  TALLY_ASSERT(is_method_token(method));
  TALLY_ASSERT(!pattern.empty() && pattern.front() == '/');
  TALLY_ASSERT(pattern.size() <= path_bytes_max);
  TALLY_ASSERT(pattern.find('?') == std::string_view::npos);
  std::array<std::string_view, path_segments_max> raw{};
  std::size_t count = 0;
  TALLY_ASSERT(split_path(pattern, raw, count));

  route added{std::string(method), std::string(pattern), {}};
  node* at = root_.get();
  for (std::size_t index = 0; index < count; ++index) {
    const std::string_view text = raw[index];
    TALLY_ASSERT(!text.empty());
    if (text.front() == '{') {
      TALLY_ASSERT(text.size() > 2 && text.back() == '}');
      const std::string_view name = text.substr(1, text.size() - 2);
      TALLY_ASSERT(is_param_name(name));
      for (const auto& earlier : added.segments) {
        TALLY_ASSERT(!earlier.is_param || earlier.text != name);
      }
      added.segments.push_back({true, std::string(name)});
      if (!at->parameter) {
        at->parameter = std::make_unique<node>();
      }
      at = at->parameter.get();
    } else {
      TALLY_ASSERT(text.find_first_of("{}%") == std::string_view::npos);
      added.segments.push_back({false, std::string(text)});
      auto& child = at->literals[std::string(text)];
      if (!child) {
        child = std::make_unique<node>();
      }
      at = child.get();
    }
  }
  for (const auto& existing : at->methods) {
    TALLY_ASSERT(existing.first != method);  // the same route registered twice
  }
  const std::size_t route_index = routes_.size();
  at->methods.emplace_back(std::string(method), route_index);
  routes_.push_back(std::move(added));
  return route_index;
}

struct router::request_path {
  std::array<std::string_view, path_segments_max> segments{};
  std::array<bool, path_segments_max> is_param_capable{};
  std::size_t count = 0;
};

const std::pair<std::string, std::size_t>* router::search(
    std::string_view method, const request_path& path,
    std::vector<std::string_view>& allowed) const {
  // Depth-first over the trie, literal before parameter. Each trie node sits at one depth and
  // the path is fixed, so every node is visited at most once: the walk is bounded by the route
  // table, not by the request. At most one sibling waits per level, hence the stack bound.
  struct frame {
    const node* at;
    std::size_t depth;
  };
  std::array<frame, 2 * path_segments_max + 2> stack{};
  std::size_t stack_size = 0;
  stack[stack_size++] = {root_.get(), 0};
  while (stack_size > 0) {
    const frame top = stack[--stack_size];
    if (top.depth == path.count) {
      for (const auto& entry : top.at->methods) {
        if (entry.first == method) {
          return &entry;
        }
        allowed.push_back(entry.first);
      }
      continue;
    }
    if (top.at->parameter && path.is_param_capable[top.depth]) {
      TALLY_ASSERT(stack_size < stack.size());
      stack[stack_size++] = {top.at->parameter.get(), top.depth + 1};
    }
    const auto literal = top.at->literals.find(path.segments[top.depth]);
    if (literal != top.at->literals.end()) {
      TALLY_ASSERT(stack_size < stack.size());
      stack[stack_size++] = {literal->second.get(), top.depth + 1};
    }
  }
  return nullptr;
}

route_match router::match(std::string_view method, std::string_view path) const {
  route_match result;
  if (path.empty() || path.front() != '/' || path.size() > path_bytes_max) {
    return result;
  }
  request_path request;
  if (!split_path(path, request.segments, request.count)) {
    return result;
  }
  for (std::size_t index = 0; index < request.count; ++index) {
    request.is_param_capable[index] = is_param_value(request.segments[index]);
  }
  std::vector<std::string_view> allowed;
  const auto* found = search(method, request, allowed);
  if (found != nullptr) {
    const route& matched = routes_[found->second];
    TALLY_ASSERT(matched.segments.size() == request.count);
    result.kind = match_kind::found;
    result.route_index = found->second;
    result.pattern = matched.pattern;
    for (std::size_t index = 0; index < request.count; ++index) {
      if (matched.segments[index].is_param) {
        auto value = percent_decode(request.segments[index], plus_sign::literal);
        TALLY_ASSERT(value.has_value());  // is_param_value said so
        result.params.push_back({matched.segments[index].text, std::move(*value)});
      }
    }
  } else if (!allowed.empty()) {
    result.kind = match_kind::method_not_allowed;
    result.allow = join_methods(std::move(allowed));
  }
  return result;
}

std::vector<std::pair<std::string, std::string>> router::routes() const {
  std::vector<std::pair<std::string, std::string>> listing;
  listing.reserve(routes_.size());
  for (const auto& entry : routes_) {
    listing.emplace_back(entry.method, entry.pattern);
  }
  return listing;
}

target_parts split_target(std::string_view target) {
  const std::size_t question = target.find('?');
  if (question == std::string_view::npos) {
    return {target, {}};
  }
  return {target.substr(0, question), target.substr(question + 1)};
}

std::optional<std::string> percent_decode(std::string_view text, plus_sign plus) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t index = 0; index < text.size(); ++index) {
    const char c = text[index];
    if (c == '+' && plus == plus_sign::space) {
      decoded.push_back(' ');
    } else if (c != '%') {
      decoded.push_back(c);
    } else {
      if (text.size() - index < 3) {
        return std::nullopt;
      }
      const int high = hex_value(text[index + 1]);
      const int low = hex_value(text[index + 2]);
      if (high < 0 || low < 0) {
        return std::nullopt;
      }
      decoded.push_back(static_cast<char>(high * 16 + low));
      index += 2;
    }
  }
  return decoded;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  std::size_t start = 0;
  while (start <= query.size()) {
    const std::size_t ampersand = query.find('&', start);
    const std::size_t end = ampersand == std::string_view::npos ? query.size() : ampersand;
    const std::string_view pair = query.substr(start, end - start);
    const std::size_t equals = pair.find('=');
    const std::string_view raw_name = pair.substr(0, equals);
    if (!pair.empty()) {
      const auto decoded_name = percent_decode(raw_name, plus_sign::space);
      if (decoded_name && *decoded_name == name) {
        auto value = percent_decode(
            equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1),
            plus_sign::space);
        if (value) {
          return value;
        }
      }
    }
    if (ampersand == std::string_view::npos) {
      break;
    }
    start = ampersand + 1;
  }
  return std::nullopt;
}

}  // namespace tally::http
