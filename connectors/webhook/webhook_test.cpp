#include "connectors/webhook/webhook.hpp"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace syncd;
using namespace syncd::connectors::webhook;
using namespace std::chrono_literals;

namespace {

// A connector block as the config loader hands it over, and the problems it records.
struct Block {
    std::shared_ptr<config::Problems> problems = std::make_shared<config::Problems>();
    config::SettingsReader reader;
    explicit Block(const std::string& yaml)
        : reader(YAML::Load(yaml), "connectors.hook", problems) {
        problems->file = "test.yaml";
    }
    Settings parse() {
        auto settings = parse_settings(reader);
        reader.finish();
        return settings;
    }
    std::string problems_text() const {
        std::string text;
        for (const auto& line : problems->lines) text += line + "\n";
        return text;
    }
};

}  // namespace

TEST_CASE("the signature is the hex HMAC-SHA256 of the body keyed by the secret") {
    // RFC 4231, test case 2.
    CHECK(signature("Jefe", "what do ya want for nothing?") ==
          "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(signature("secret", "{}") != signature("secret", "{} "));
    CHECK(signature("secret", "{}") != signature("secret2", "{}"));
}

TEST_CASE("a redelivered batch has the same delivery id, another batch another one") {
    CHECK(delivery_id("tasks/hook", 17, 42) == "tasks/hook:17-42");
    CHECK(delivery_id("tasks/hook", 17, 42) == delivery_id("tasks/hook", 17, 42));
    CHECK(delivery_id("tasks/hook", 17, 17) == "tasks/hook:17");
    CHECK(delivery_id("tasks/hook", 17, 43) != delivery_id("tasks/hook", 17, 42));
    CHECK(delivery_id("tasks/other", 17, 42) != delivery_id("tasks/hook", 17, 42));
}

TEST_CASE("2xx acks, 408, 429 and 5xx are retried, any other status is not") {
    for (const int status : {200, 201, 202, 204, 299}) CHECK(classify(status) == Outcome::ack);
    for (const int status : {408, 429, 500, 502, 503, 504, 599})
        CHECK(classify(status) == Outcome::retry);
    for (const int status : {100, 301, 302, 400, 401, 403, 404, 409, 410, 413, 422})
        CHECK(classify(status) == Outcome::reject);
}

TEST_CASE("Retry-After is read as seconds or as an HTTP date") {
    CHECK(parse_retry_after("120") == std::chrono::milliseconds(120'000));
    CHECK(parse_retry_after(" 0 ") == std::chrono::milliseconds(0));
    const auto now = std::chrono::system_clock::from_time_t(784111777);  // 1994-11-06 08:49:37
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now) ==
          std::chrono::milliseconds(30'000));
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now) == std::chrono::milliseconds(0));
    CHECK_FALSE(parse_retry_after(""));
    CHECK_FALSE(parse_retry_after("soon"));
    CHECK_FALSE(parse_retry_after("-5"));
    CHECK_FALSE(parse_retry_after("99999999999999"));
}

TEST_CASE("a logged URL shows scheme and host only") {
    CHECK(redacted("https://hooks.slack.com/services/T000/B000/XXXXSECRET") ==
          "https://hooks.slack.com/…");
    CHECK(redacted("http://127.0.0.1:8080/hook?token=abc") == "http://127.0.0.1:8080/…");
    CHECK(redacted("https://example.com") == "https://example.com");
}

TEST_CASE("the settings are read with ${ENV} in the secret and header values") {
    setenv("WEBHOOK_TEST_SECRET", "s3cret", 1);
    setenv("WEBHOOK_TEST_TOKEN", "abc", 1);
    Block block(R"(
type: webhook
url: https://example.com/hooks/notion?team=1
secret: ${WEBHOOK_TEST_SECRET}
headers:
  Authorization: Bearer ${WEBHOOK_TEST_TOKEN}
  X-Team: blue
timeout: 5s
ca_file: /etc/ssl/certs/ca-certificates.crt
)");
    block.reader.string_or("type", "");
    const auto s = block.parse();
    CHECK(block.problems_text() == "");
    CHECK(s.url == "https://example.com/hooks/notion?team=1");
    CHECK(s.secret == "s3cret");
    CHECK(s.headers == std::vector<std::pair<std::string, std::string>>{
                           {"Authorization", "Bearer abc"}, {"X-Team", "blue"}});
    CHECK(s.timeout == 5s);
    CHECK(s.ca_file == "/etc/ssl/certs/ca-certificates.crt");
    CHECK_FALSE(s.body_template);
}

TEST_CASE("the secret can come from a file, trailing whitespace dropped, but not from both") {
    const auto path = std::filesystem::temp_directory_path() / "webhook_test_secret";
    std::ofstream(path) << "from-file\n";
    {
        Block block("url: https://example.com\nsecret_file: " + path.string());
        CHECK(block.parse().secret == "from-file");
        CHECK(block.problems_text() == "");
    }
    {
        Block block("url: https://example.com\nsecret: x\nsecret_file: " + path.string());
        block.parse();
        CHECK(block.problems_text().find("give secret or secret_file, not both") !=
              std::string::npos);
    }
    {
        Block block("url: https://example.com\nsecret_file: /nonexistent/secret");
        block.parse();
        CHECK(block.problems_text().find("cannot read /nonexistent/secret") != std::string::npos);
    }
    std::filesystem::remove(path);
}

TEST_CASE("a bad url, plain http off loopback and a missing url are config errors") {
    {
        Block block("url: http://example.com/hook");
        block.parse();
        CHECK(block.problems_text() ==
              "test.yaml:1:6: connectors.hook.url: plain http:// is only allowed to loopback; "
              "use https://\n");
    }
    {
        Block block("url: ftp://example.com/secret-path");
        block.parse();
        CHECK(block.problems_text().find("expected http(s)://host") != std::string::npos);
        CHECK(block.problems_text().find("secret-path") == std::string::npos);
    }
    {
        Block block("secret: x");
        block.parse();
        CHECK(block.problems_text().find("missing required key `url`") != std::string::npos);
    }
    Block loopback("url: http://127.0.0.1:8080/hook");
    loopback.parse();
    CHECK(loopback.problems_text() == "");
}

TEST_CASE("reserved, malformed or unset headers are config errors") {
    Block block(R"(
url: https://example.com
headers:
  Content-Length: "5"
  X-Notion-Syncd-Signature: forged
  "Bad Name": x
  X-Missing: ${WEBHOOK_TEST_SURELY_UNSET}
  X-Fine: ok
)");
    unsetenv("WEBHOOK_TEST_SURELY_UNSET");
    const auto s = block.parse();
    const auto text = block.problems_text();
    CHECK(text.find("`Content-Length` is set by notion-syncd") != std::string::npos);
    CHECK(text.find("`X-Notion-Syncd-Signature` is set by notion-syncd") != std::string::npos);
    CHECK(text.find("`Bad Name` is not a valid header name") != std::string::npos);
    CHECK(text.find("WEBHOOK_TEST_SURELY_UNSET is not set") != std::string::npos);
    CHECK(s.headers == std::vector<std::pair<std::string, std::string>>{{"X-Fine", "ok"}});
}

TEST_CASE("a bad template is a config error at the template's line and column") {
    Block block("url: https://example.com\ntemplate: '{\"text\": \"{{titel}}\"}'\n");
    block.parse();
    const auto text = block.problems_text();
    CHECK(text.starts_with("test.yaml:2:11: connectors.hook.template: unknown name `titel`"));
    CHECK(text.find("at character 11 of the template") != std::string::npos);

    Block good("url: https://example.com\ntemplate: '{\"text\": \"{{title}} was {{event}}\"}'\n");
    CHECK(good.parse().body_template.has_value());
    CHECK(good.problems_text() == "");
}

TEST_CASE("an unknown key is flagged with the keys a webhook reads") {
    Block block("url: https://example.com\nsecrett: x\n");
    block.parse();
    const auto text = block.problems_text();
    CHECK(text.find("unknown key `secrett` (expected one of: ca_file, headers, secret, "
                    "secret_file, template, timeout, url)") != std::string::npos);
}
