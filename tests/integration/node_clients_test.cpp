// tests/integration/node_clients_test.cpp: independent clients, the official npm packages
// (tests/node/, installed by scripts/install-deps.sh with `npm ci --prefix tests/node`):
// - Omise fidelity: the `omise` package (tests/node/omise_sandbox.js) makes tokens, a source
//   and charges against the real `tally sandbox` and checks every object it parses, also
//   against the package's own type declarations. omise-node 1.x takes host names only and
//   connects on the scheme's default port (OMISE_SCHEME=http: 80), so the sandbox listens on
//   a loopback address of its own, 127.77.0.1:80 (the next free 127.77.0.x if another run
//   holds it); only one case here binds it, so parallel ctest jobs never compete for it.
// - Stripe signatures: the `stripe` package's webhooks.generateTestHeaderString signs
//   deliveries to the real engine's POST /v1/webhooks/stripe (tests/node/stripe_signatures.js):
//   accepted and stored when intact, 400 invalid_signature when altered, stale or foreign.
// A missing node or node_modules fails the test with the command that installs them.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/engine_process.hpp"
#include "tests/support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using tally::test::base64;
using tally::test::engine_fixture;
using tally::test::engine_options;
using tally::test::engine_process;
using tally::test::env_map;
using tally::test::http_client;

constexpr const char* omise_public_key = "pkey_test_node_clients";
constexpr const char* omise_secret_key = "skey_test_node_clients";
constexpr const char* stripe_webhook_secret = "whsec_node_clients_0123456789abcdef";
constexpr const char* node_timeout_s = "120";

const std::filesystem::path node_dir = std::filesystem::path(TALLY_SOURCE_DIR) / "tests" / "node";

// 'text' for a POSIX shell.
std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Fails the test (never skips it) when Node.js or the pinned packages are not installed.
void require_node_packages() {
  if (std::system("command -v node > /dev/null 2>&1") != 0) {
    FAIL(
        "node is not on PATH: these tests run the official npm packages under Node.js; "
        "scripts/install-deps.sh installs it");
  }
  for (const char* package : {"omise", "stripe"}) {
    const auto manifest = node_dir / "node_modules" / package / "package.json";
    if (!std::filesystem::exists(manifest)) {
      FAIL(manifest.string() +
           " is missing: install the pinned npm packages with "
           "`npm ci --prefix tests/node` (scripts/install-deps.sh does)");
    }
  }
}

struct node_result {
  int status = -1;
  std::string output;    // stdout and stderr together
  std::string log_path;  // where the output was also written
};

// Runs `node tests/node/<script>` with `env` added to this process's environment (killed
// after node_timeout_s), and returns its exit status and output.
node_result run_node(const std::string& script, const env_map& env) {
  std::string command = "cd " + shell_quote(node_dir.string()) + " && exec env";
  for (const auto& [name, value] : env) {
    command += " " + name + "=" + shell_quote(value);
  }
  command += std::string(" timeout --kill-after=5 ") + node_timeout_s + " node " +
             shell_quote(script) + " 2>&1";
  node_result result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    throw std::runtime_error("popen(" + command + "): " + std::strerror(errno));
  }
  char buffer[4096];
  std::size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    result.output.append(buffer, count);
  }
  result.status = tally::test::exit_status_from_wait(::pclose(pipe));
  // Kept beside the engine logs: every check the script printed, also after a pass.
  const char* log_dir = std::getenv("TALLY_TEST_LOG_DIR");
  const auto directory = std::filesystem::path(
      log_dir != nullptr && *log_dir != '\0' ? log_dir : std::filesystem::temp_directory_path());
  std::filesystem::create_directories(directory);
  result.log_path = (directory / ("node-" + script + ".log")).string();
  std::ofstream(result.log_path, std::ios::binary | std::ios::trunc)
      << "exit status " << result.status << "\n"
      << result.output;
  return result;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// 0 if `host`:80 can be bound now, else the errno of the attempt. SO_REUSEADDR as the
// sandbox's own listener sets it: connections of an earlier run in TIME_WAIT do not count.
int probe_port_80(const std::string& host) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return errno;
  }
  const int reuse = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(80);
  ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
  const int result = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  const int error_number = result == 0 ? 0 : errno;
  ::close(fd);
  return error_number;
}

// `tally sandbox` on <host>:80 for a loopback address of its own (127.77.0.1, or the next
// free one of 127.77.0.1-16 if another test run holds it).
struct port80_sandbox {
  std::string host;
  std::unique_ptr<engine_process> process;

  port80_sandbox() {
    std::string tried;
    for (int last = 1; last <= 16 && !process; ++last) {
      const std::string candidate = "127.77.0." + std::to_string(last);
      const int probe = probe_port_80(candidate);
      if (probe == EACCES) {
        FAIL("cannot bind " + candidate + ":80 (" + std::strerror(probe) +
             "): omise-node connects on port 80 only, so this test needs root, "
             "CAP_NET_BIND_SERVICE or net.ipv4.ip_unprivileged_port_start <= 80");
      }
      if (probe != 0) {
        tried += " " + candidate + ":80 (" + std::strerror(probe) + ")";
        continue;
      }
      if (start(candidate)) {
        host = candidate;
      } else {
        tried += " " + candidate + ":80 (the sandbox did not start: " + process->log_tail(5) + ")";
        process.reset();
      }
    }
    if (!process) {
      FAIL("no loopback address for the sandbox on port 80; tried" + tried);
    }
  }

  // True once GET /health/live answers 200; false if the sandbox exited (the address was
  // taken between the probe and its bind) or never answered.
  bool start(const std::string& candidate) {
    engine_options options;
    options.args = {"sandbox",      "--listen",       candidate + ":80", "--seed",        "7",
                    "--public-key", omise_public_key, "--secret-key",    omise_secret_key};
    options.listen_env = "TALLY_SANDBOX_LISTEN";  // overridden by --listen above
    options.env_unset = {"TALLY_SANDBOX_WEBHOOK_URL", "TALLY_SANDBOX_WEBHOOK_SECRET",
                         "TALLY_SANDBOX_FAIL_RATIO", "TALLY_SANDBOX_LATENCY_MS",
                         "TALLY_SANDBOX_PUBLIC_URL"};
    options.wait_until_live = false;  // it is not on the port engine_process picked
    process = std::make_unique<engine_process>(options);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!process->is_running()) {
        return false;
      }
      try {
        if (http_client(candidate, 80, 1s).get("/health/live").status == 200) {
          return true;
        }
      } catch (const std::exception&) {
        // not listening yet
      }
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  http_client client() const { return http_client(host, 80); }
};

}  // namespace

TEST_CASE("the omise npm package makes tokens, sources and charges the sandbox answers",
          "[integration][node][omise]") {
  require_node_packages();
  port80_sandbox sandbox;
  const auto result =
      run_node("omise_sandbox.js", {{"OMISE_SCHEME", "http"},
                                    {"TALLY_NODE_OMISE_HOST", sandbox.host},
                                    {"TALLY_NODE_OMISE_PUBLIC_KEY", omise_public_key},
                                    {"TALLY_NODE_OMISE_SECRET_KEY", omise_secret_key}});
  INFO("node tests/node/omise_sandbox.js exited " << result.status << " (output also in "
                                                  << result.log_path << "):\n"
                                                  << result.output);
  INFO("sandbox log: " << sandbox.process->log_path());
  REQUIRE(result.status == 0);
  CHECK(contains(result.output, "PASS omise_sandbox:"));
  CHECK_FALSE(contains(result.output, "FAIL"));

  // What the package made is what this sandbox holds: two card charges (one paid, one
  // declined) and two pending PromptPay charges.
  auto client = sandbox.client();
  auto list =
      client.get("/charges?limit=100",
                 {{"Authorization", "Basic " + base64(std::string(omise_secret_key) + ":")}});
  INFO(list.describe());
  REQUIRE(list.status == 200);
  std::map<std::string, int> statuses;
  const json charges = list.json();
  for (const auto& charge : charges["data"]) {
    ++statuses[charge["status"].get<std::string>()];
  }
  CHECK(statuses == std::map<std::string, int>{{"successful", 1}, {"failed", 1}, {"pending", 2}});
}

TEST_CASE("the stripe npm package's signatures are accepted, altered payloads refused",
          "[integration][node][stripe]") {
  require_node_packages();
  engine_fixture fixture(env_map{{"TALLY_STRIPE_WEBHOOK_SECRET", stripe_webhook_secret}});
  const auto result = run_node(
      "stripe_signatures.js",
      {{"TALLY_NODE_ENGINE_URL", "http://127.0.0.1:" + std::to_string(fixture.engine.port())},
       {"TALLY_NODE_STRIPE_WEBHOOK_SECRET", stripe_webhook_secret},
       {"TALLY_NODE_ADMIN_KEY", tally::test::test_admin_api_key}});
  INFO("node tests/node/stripe_signatures.js exited " << result.status << " (output also in "
                                                      << result.log_path << "):\n"
                                                      << result.output);
  INFO("engine log: " << fixture.engine.log_path());
  REQUIRE(result.status == 0);
  CHECK(contains(result.output, "PASS stripe_signatures:"));
  CHECK_FALSE(contains(result.output, "FAIL"));

  // Each accepted event is stored once, its raw body byte for byte what the package signed;
  // nothing refused was stored.
  std::vector<json> stored;
  std::istringstream lines(result.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("STORED ", 0) == 0) {
      stored.push_back(json::parse(line.substr(7)));
    }
  }
  REQUIRE(stored.size() == 3);
  const std::string url = fixture.database.url();
  CHECK(tally::test::pg_scalar(url, "SELECT count(*) FROM payments.inbox") == 3);
  for (const auto& event : stored) {
    const auto event_id = event["event_id"].get<std::string>();
    INFO(event_id);
    auto rows = tally::test::pg_query(
        url, "SELECT gateway, raw_body FROM payments.inbox WHERE event_id = '" + event_id + "'");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0][0].as<std::string>() == "stripe");
    CHECK(rows[0][1].as<std::string>() == event["payload"].get<std::string>());
  }
}
