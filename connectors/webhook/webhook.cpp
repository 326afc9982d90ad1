#include "connectors/webhook/webhook.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctime>
#include <fstream>
#include <iomanip>
#include <locale>
#include <optional>
#include <set>
#include <sstream>

#include "config/environment.hpp"
#include "connectors/change_inbox.hpp"
#include "daemon/model/json_text.hpp"
#include "daemon/net/http_client.hpp"

namespace syncd::connectors::webhook {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

bool is_token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// The start of an answer for an error message: one line, printable.
std::string excerpt(std::string_view body) {
    constexpr std::size_t limit = 300;
    std::string out;
    for (const char c : body.substr(0, limit)) {
        out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
    }
    if (body.size() > limit) out += "…";
    return out;
}

// The URL split for HttpClient, which takes no query: scheme://authority as the base, the path
// and query as the request target.
struct Endpoint {
    net::Url base = {};
    std::string target = "/";
};

Endpoint endpoint_of(const std::string& url) {
    const auto query = url.find('?');
    Endpoint e{.base = net::Url::parse(url.substr(0, query))};
    e.target = e.base.path.empty() ? "/" : e.base.path;
    if (query != std::string::npos) e.target += url.substr(query);
    e.base.path.clear();
    return e;
}

class WebhookConnector final : public Connector {
public:
    WebhookConnector(Settings settings, const ConnectorContext& context, Endpoint endpoint,
                     net::ClientOptions options)
        : settings_(std::move(settings)),
          target_(std::move(endpoint.target)),
          shown_(redacted(settings_.url)),
          client_(context.executor, std::move(endpoint.base), std::move(options)) {
        if (context.target.two_way) {
            inbox_.emplace(context.name);
            inbox_->set_secret(settings_.secret);
        }
    }

    asio::awaitable<void> start() override { co_return; }

    // Two-way: changes POSTed to the control server's changes route wait here for the
    // write-back; their results are kept for GET …/changes/{request}.
    ChangeInbox* inbox() override { return inbox_ ? &*inbox_ : nullptr; }

    asio::awaitable<void> apply_schema(ChangeBatch batch) override {
        if (inbox_) inbox_->set_schemas(batch.schemas);
        co_return;
    }

    asio::awaitable<std::vector<ExternalRow>> external_changes() override {
        co_return inbox_ ? inbox_->rows() : std::vector<ExternalRow>{};
    }

    asio::awaitable<void> acknowledge(std::vector<ExternalRow> rows) override {
        if (inbox_) {
            inbox_->decided(rows);
            (void)inbox_->take_results();  // kept per request; nothing to push
        }
        co_return;
    }

    // A created page's id is in its change's result.
    asio::awaitable<void> assign_page_id(ExternalRow row, std::string page_id) override {
        (void)row;
        (void)page_id;
        co_return;
    }

    asio::awaitable<void> deliver(ChangeBatch batch) override {
        if (inbox_) inbox_->set_schemas(batch.schemas);
        if (batch.events.empty()) co_return;
        if (!settings_.body_template) {
            const auto id =
                delivery_id(batch.target, batch.events.front().seq, batch.events.back().seq);
            json::array events;
            events.reserve(batch.events.size());
            for (const auto& e : batch.events) events.push_back(e.to_json());
            json::object body;
            body["delivery_id"] = id;
            body["target"] = batch.target;
            body["sync"] = batch.sync;
            body["events"] = std::move(events);
            co_await post(model::to_json_text(body), id);
            co_return;
        }
        for (const auto& e : batch.events) {
            // Events this batch already got across before it failed are not posted again, so a
            // chat channel sees each message once when a batch is retried.
            if (posted_.contains(e.seq)) continue;
            const auto id = delivery_id(batch.target, e.seq, e.seq);
            std::string body = settings_.body_template->render(
                template_context(e, batch.schemas, batch.target, id));
            co_await post(std::move(body), id);
            posted_.insert(e.seq);
        }
        posted_.clear();
    }

private:
    asio::awaitable<void> post(std::string body, std::string id) {
        net::Request request;
        request.method = "POST";
        request.target = target_;
        request.headers.emplace_back("Content-Type", "application/json");
        for (const auto& header : settings_.headers) request.headers.push_back(header);
        request.headers.emplace_back(delivery_header, std::move(id));
        if (!settings_.secret.empty())
            request.headers.emplace_back(signature_header, signature(settings_.secret, body));
        request.body = std::move(body);
        net::Response response;
        for (int attempt = 1;; ++attempt) {
            net::Request copy = request;
            try {
                response = co_await client_.send(std::move(copy));
                break;
            } catch (const net::TransportError& e) {
                // A kept-alive connection the receiver has closed fails on first use: once more
                // on a fresh one. The delivery id makes a second copy harmless.
                const bool stale = e.stage == net::TransportError::Stage::send ||
                                   e.stage == net::TransportError::Stage::receive;
                if (!(attempt == 1 && stale)) throw DeliveryError(describe(e), true);
            }
        }
        switch (classify(response.status)) {
            case Outcome::ack:
                co_return;
            case Outcome::retry:
                throw DeliveryError("webhook: POST " + shown_ + " answered " +
                                        std::to_string(response.status) + ": " +
                                        excerpt(response.body),
                                    true, parse_retry_after(response.header("Retry-After")));
            case Outcome::reject:
                throw DeliveryError("webhook: POST " + shown_ + " answered " +
                                        std::to_string(response.status) +
                                        " (not retried): " + excerpt(response.body),
                                    false);
        }
    }

    // The client's message names the request target, which may hold a secret.
    std::string describe(const net::TransportError& e) const {
        std::string what = e.what();
        if (target_ != "/") {
            for (auto at = what.find(target_); at != std::string::npos;
                 at = what.find(target_, at + 3)) {
                what.replace(at, target_.size(), "/…");
            }
        }
        return "webhook: POST " + shown_ + ": " + what;
    }

    Settings settings_;
    std::string target_;  // path and query
    std::string shown_;   // the URL as logged
    net::HttpClient client_;
    std::set<std::int64_t> posted_;
    std::optional<ChangeInbox> inbox_;
};

// Headers that carry credentials by convention: a literal value in the file is a secret.
bool sensitive_header(const std::string& name) {
    const std::string n = lower(name);
    return n == "authorization" || n == "proxy-authorization" || n == "cookie" ||
           n.find("token") != std::string::npos || n.find("secret") != std::string::npos ||
           n.find("key") != std::string::npos || n.find("password") != std::string::npos;
}

void parse_headers(config::SettingsReader& read, Settings& s) {
    static const std::set<std::string> reserved{
        "host",       "content-length",        "transfer-encoding",
        "connection", lower(signature_header), lower(delivery_header)};
    for (auto& [name, value] : read.string_map("headers")) {
        const std::string key = "headers." + name;
        if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
            read.problem("`" + name + "` is not a valid header name", "headers");
            continue;
        }
        if (reserved.contains(lower(name))) {
            read.problem("`" + name + "` is set by notion-syncd and cannot be configured",
                         "headers");
            continue;
        }
        std::string missing;
        std::string expanded = config::expand_environment(value, missing);
        if (!missing.empty()) {
            read.problem(key + ": environment variable " + missing + " is not set", "headers");
            continue;
        }
        if (expanded.find_first_of("\r\n") != std::string::npos ||
            expanded.find('\0') != std::string::npos) {
            read.problem(key + ": a header value cannot hold a line break", "headers");
            continue;
        }
        if (sensitive_header(name)) read.secret("headers", value);
        s.headers.emplace_back(name, std::move(expanded));
    }
}

}  // namespace

std::string signature(std::string_view secret, std::string_view body) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &size);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "sha256=";
    for (unsigned int i = 0; i < size; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 0xf];
    }
    return out;
}

std::string delivery_id(const std::string& target, std::int64_t first, std::int64_t last) {
    return target + ":" + std::to_string(first) +
           (first == last ? std::string() : "-" + std::to_string(last));
}

Outcome classify(int status) {
    if (status >= 200 && status < 300) return Outcome::ack;
    if (status == 408 || status == 429 || (status >= 500 && status < 600)) return Outcome::retry;
    return Outcome::reject;
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (value.size() > 9) return std::nullopt;
        return std::chrono::seconds(std::stoll(std::string(value)));
    }
    // IMF-fixdate (RFC 9110 §5.6.7): Sun, 06 Nov 1994 08:49:37 GMT
    std::tm tm{};
    std::istringstream in{std::string(value)};
    in.imbue(std::locale::classic());
    in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S GMT");
    if (in.fail()) return std::nullopt;
    const auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(at - now);
    return std::max(wait, std::chrono::milliseconds(0));
}

std::string redacted(const std::string& url) {
    const auto scheme = url.find("://");
    if (scheme == std::string::npos) return "(invalid URL)";
    const auto path = url.find_first_of("/?#", scheme + 3);
    if (path == std::string::npos) return url;
    return url.substr(0, path) + "/…";
}

Settings parse_settings(config::SettingsReader& read) {
    Settings s{.url = read.required_string("url")};
    if (!s.url.empty()) {
        try {
            const auto e = endpoint_of(s.url);
            if (!e.base.is_tls() && !e.base.is_loopback())
                read.problem("plain http:// is only allowed to loopback; use https://", "url");
        } catch (const std::invalid_argument&) {
            // The message quotes the URL, which may hold a secret.
            read.problem("expected http(s)://host[:port][/path][?query]", "url");
        }
    }
    const auto secret = read.optional_string("secret");
    const auto secret_file = read.optional_string("secret_file");
    if (secret && secret_file) read.problem("give secret or secret_file, not both", "secret_file");
    if (secret) {
        read.secret("secret");
        s.secret = *secret;
    }
    if (secret_file) {
        std::ifstream in(*secret_file);
        if (!in) {
            read.problem("cannot read " + *secret_file, "secret_file");
        } else {
            std::getline(in, s.secret, '\0');
            while (!s.secret.empty() && std::isspace(static_cast<unsigned char>(s.secret.back())))
                s.secret.pop_back();
            if (s.secret.empty()) read.problem(*secret_file + " is empty", "secret_file");
        }
    }
    parse_headers(read, s);
    s.timeout = read.duration_or("timeout", s.timeout);
    if (s.timeout < std::chrono::milliseconds(100))
        read.problem("expected at least 100ms", "timeout");
    s.ca_file = read.string_or("ca_file", "");
    if (!s.ca_file.empty() && read.checks_environment()) {
        if (const auto problem = config::ca_file_problem(s.ca_file))
            read.problem(*problem, "ca_file");
    }
    if (const auto text = read.optional_string("template")) {
        try {
            s.body_template = BodyTemplate::parse(*text);
        } catch (const TemplateError& e) {
            read.problem(std::string(e.what()) + " (at character " + std::to_string(e.offset + 1) +
                             " of the template)",
                         "template");
        }
    }
    return s;
}

void validate(config::SettingsReader& read) { parse_settings(read); }

std::unique_ptr<Connector> make_connector(config::SettingsReader& read,
                                          const ConnectorContext& context) {
    Settings settings = parse_settings(read);
    Endpoint endpoint;
    try {
        endpoint = endpoint_of(settings.url);
    } catch (const std::invalid_argument&) {
        throw config::Error("connectors." + context.name + ".url: not an http(s) URL");
    }
    net::ClientOptions options;
    options.request_timeout = settings.timeout;
    options.connect_timeout = std::min(settings.timeout, options.connect_timeout);
    options.ca_file = settings.ca_file;
    options.max_connections = 1;  // a target's deliveries go one at a time
    options.max_response_bytes = 1024 * 1024;
    return std::make_unique<WebhookConnector>(std::move(settings), context, std::move(endpoint),
                                              std::move(options));
}

}  // namespace syncd::connectors::webhook
