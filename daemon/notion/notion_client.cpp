#include "daemon/notion/notion_client.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <random>
#include <sstream>
#include <stdexcept>

#include "daemon/model/json_text.hpp"
#include "daemon/model/log.hpp"

namespace syncd::notion {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string url_encode(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back("0123456789ABCDEF"[u >> 4]);
            out.push_back("0123456789ABCDEF"[u & 15]);
        }
    }
    return out;
}

std::string url_decode_once(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() &&
            std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            out.push_back(
                static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

std::string query_string(const std::vector<std::string>& filter_properties) {
    std::string out;
    for (const auto& p : filter_properties) {
        // Property ids arrive URL-encoded already; decode once, encode once (notion-api.md §6.4).
        out += (out.empty() ? "?" : "&") + std::string("filter_properties=") +
               url_encode(url_decode_once(p));
    }
    return out;
}

// Retry-After is delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& value) {
    if (value.empty()) return std::nullopt;
    char* end = nullptr;
    const double seconds = std::strtod(value.c_str(), &end);
    if (end != value.c_str() && *end == '\0' && seconds >= 0) {
        return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    }
    std::tm tm{};
    std::istringstream in(value);
    in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S");
    if (in.fail()) return std::nullopt;
    const auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
    const auto delta = at - std::chrono::system_clock::now();
    return std::max(0ms, std::chrono::duration_cast<std::chrono::milliseconds>(delta));
}

std::string string_at(const json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key); v && v->is_string())
        return std::string(v->get_string());
    return {};
}

bool is_write(std::string_view method) { return method == "POST" || method == "PATCH"; }

std::string title_of(const json::object& properties) {
    for (const auto& [name, value] : properties) {
        if (!value.is_object()) continue;
        const auto* title = value.as_object().if_contains("title");
        if (title == nullptr || !title->is_array()) continue;
        std::string text;
        for (const auto& item : title->as_array()) {
            if (!item.is_object()) continue;
            if (const auto* t = item.as_object().if_contains("text"); t && t->is_object()) {
                text += string_at(t->as_object(), "content");
            } else {
                text += string_at(item.as_object(), "plain_text");
            }
        }
        return text;
    }
    return {};
}

}  // namespace

std::string_view to_string(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::retryable:
            return "retryable";
        case ErrorKind::permanent:
            return "permanent";
        case ErrorKind::ambiguous_write:
            return "ambiguous_write";
    }
    return "unknown";
}

asio::awaitable<std::optional<ListPage>> Pager::next() {
    if (done_) co_return std::nullopt;
    ListPage page = co_await fetch_(cursor_);
    incomplete_ = incomplete_ || page.incomplete;
    if (page.has_more && page.next_cursor) {
        cursor_ = page.next_cursor;
    } else {
        done_ = true;
    }
    co_return page;
}

std::string PageView::id() const { return string_at(raw, "id"); }
std::string PageView::last_edited_time() const { return string_at(raw, "last_edited_time"); }
std::string PageView::created_time() const { return string_at(raw, "created_time"); }
bool PageView::in_trash() const {
    const auto* v = raw.if_contains("in_trash");
    return v != nullptr && v->is_bool() && v->get_bool();
}
std::string PageView::data_source_id() const {
    const auto* parent = raw.if_contains("parent");
    return parent && parent->is_object() ? string_at(parent->as_object(), "data_source_id")
                                         : std::string();
}
const json::object& PageView::properties() const {
    static const json::object empty;
    const auto* p = raw.if_contains("properties");
    return p && p->is_object() ? p->as_object() : empty;
}

NotionClient::NotionClient(asio::any_io_executor executor, ClientConfig config,
                           std::shared_ptr<RateBudget> budget)
    : config_(std::move(config)),
      http_(executor, net::Url::parse(config_.base_url),
            [&] {
                auto options = config_.http;
                options.user_agent = "notion-syncd/0.1.0";
                return options;
            }()),
      budget_(std::move(budget)) {
    if (config_.version != "2026-03-11" && config_.version != "2025-09-03") {
        throw std::invalid_argument("unsupported Notion-Version \"" + config_.version +
                                    "\": use 2026-03-11 (default) or 2025-09-03");
    }
    if (config_.token.empty()) throw std::invalid_argument("the Notion token is empty");
}

NotionClient::~NotionClient() { shutdown(); }

void NotionClient::shutdown() {
    stopped_ = true;
    http_.shutdown();
}

void NotionClient::note_server_time(const std::string& date) {
    // "Tue, 03 Mar 2026 10:15:02 GMT" (RFC 9110 IMF-fixdate).
    std::tm tm{};
    if (date.empty() || strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return;
    const auto server = std::chrono::system_clock::from_time_t(timegm(&tm));
    server_offset_ = server - std::chrono::system_clock::now();
    server_time_known_ = true;
}

std::optional<std::chrono::system_clock::time_point> NotionClient::server_now() const {
    if (!server_time_known_) return std::nullopt;
    return std::chrono::system_clock::now() + server_offset_;
}

ClientMetrics NotionClient::metrics() const { return metrics_; }

ListPage NotionClient::to_list(json::value value) {
    if (!value.is_object()) return {};
    // In the answer's storage (an arena for a large list), so the moves below are moves.
    ListPage page{.results = json::array(value.storage()), .raw = json::object(value.storage())};
    page.raw = std::move(value.as_object());
    if (auto* results = page.raw.if_contains("results"); results && results->is_array()) {
        page.results = std::move(results->as_array());
        page.raw.erase("results");
    }
    if (const auto* more = page.raw.if_contains("has_more"); more && more->is_bool())
        page.has_more = more->get_bool();
    if (const auto cursor = string_at(page.raw, "next_cursor"); !cursor.empty())
        page.next_cursor = cursor;
    if (const auto* status = page.raw.if_contains("request_status");
        status && status->is_object()) {
        page.incomplete = string_at(status->as_object(), "type") == "incomplete";
    }
    return page;
}

// The version adapter for responses: one block type name whatever the version.
void NotionClient::normalize(json::value& value) const {
    if (config_.version == "2026-03-11") return;
    auto rename = [](json::object& block) {
        if (string_at(block, "type") == "transcription") {
            block["type"] = "meeting_notes";
            if (auto* payload = block.if_contains("transcription")) {
                block["meeting_notes"] = std::move(*payload);
                block.erase("transcription");
            }
        }
    };
    if (!value.is_object()) return;
    auto& o = value.as_object();
    if (string_at(o, "object") == "block") rename(o);
    if (auto* results = o.if_contains("results"); results && results->is_array()) {
        for (auto& r : results->as_array()) {
            if (r.is_object() && string_at(r.as_object(), "object") == "block")
                rename(r.as_object());
        }
    }
}

asio::awaitable<json::object> NotionClient::call_object(Call request) {
    json::value v = co_await call(std::move(request));
    co_return std::move(v.as_object());
}

asio::awaitable<ListPage> NotionClient::call_list(Call request) {
    json::value v = co_await call(std::move(request));
    co_return to_list(std::move(v));
}

asio::awaitable<json::value> NotionClient::call(Call c) {
    const std::string& method = c.method;
    const std::string& target = c.target;
    const std::string& route = c.route;
    const RequestContext& context = c.context;
    const std::string payload = c.body ? json::serialize(*c.body) : std::string();
    const std::string label = method + " " + route;
    const bool writes = is_write(method) && !c.read_only;
    std::mt19937_64 random(std::random_device{}());
    std::optional<NotionError> last;
    // 429/529 with Retry-After is an instruction, not a failure: it uses up no attempt; the
    // budget pauses the connection for as long as Notion says, up to max_rate_limit_wait in all.
    std::optional<std::chrono::steady_clock::time_point> limited_since;
    for (int attempt = 1; attempt <= std::max(config_.retry.max_attempts, 1);) {
        if (last && last->retry_after) {
            const auto now = std::chrono::steady_clock::now();
            if (!limited_since) limited_since = now;
            if (now - *limited_since >= config_.retry.max_rate_limit_wait) {
                const auto seconds =
                    std::chrono::duration_cast<std::chrono::seconds>(now - *limited_since);
                NotionError error(
                    ErrorKind::retryable,
                    label + ": Notion kept refusing with 429/529 (rate limited) for " +
                        std::to_string(seconds.count()) +
                        " s, longer than notion.max_rate_limit_wait; last answer: " + last->what());
                error.status = last->status;
                error.code = last->code;
                error.route = label;
                throw error;
            }
            ++metrics_.retries;
        } else if (last) {
            if (++attempt > std::max(config_.retry.max_attempts, 1)) break;
            ++metrics_.retries;
            // Full jitter: uniform in [0, min(cap, base * 2^attempt)].
            const auto ceiling = std::min<long long>(
                config_.retry.cap.count(), config_.retry.base.count() << std::min(attempt - 1, 20));
            const auto delay = std::chrono::milliseconds(
                std::uniform_int_distribution<long long>(0, std::max(ceiling, 1LL))(random));
            asio::steady_timer timer(co_await asio::this_coro::executor, delay);
            co_await timer.async_wait(asio::use_awaitable);
        }
        if (stopped_) throw boost::system::system_error(asio::error::operation_aborted);
        co_await budget_->acquire(context.priority, context.job);
        net::Request request{
            .method = method, .target = target, .body = payload, .idempotent = !writes};
        request.headers = {{"Authorization", "Bearer " + config_.token},
                           {"Notion-Version", config_.version}};
        if (!payload.empty()) request.headers.emplace_back("Content-Type", "application/json");
        net::Response response;
        const auto sent = std::chrono::steady_clock::now();
        try {
            response = co_await http_.send(std::move(request));
        } catch (const net::TransportError& e) {
            if (stopped_) throw boost::system::system_error(asio::error::operation_aborted);
            ++metrics_.requests[{label, 0}];
            if (writes && e.maybe_delivered) {
                ++metrics_.ambiguous_writes;
                NotionError error(ErrorKind::ambiguous_write,
                                  label + ": the outcome is unknown (" + e.what() +
                                      "); re-read before writing again");
                error.route = label;
                throw error;
            }
            last.emplace(ErrorKind::retryable, label + ": " + e.what());
            last->route = label;
            continue;
        }
        ++metrics_.requests[{label, response.status}];
        last_answer_ = std::chrono::steady_clock::now();
        log::debug({{"route", label},
                    {"status", response.status},
                    {"duration_ms", log::ms_since(sent)},
                    {"job", context.job}},
                   "{} answered {} in {} ms", label, response.status, log::ms_since(sent));
        note_server_time(response.header("date"));
        boost::system::error_code parse_error;
        // A large answer (a list of pages) is parsed into one arena: its nodes are not malloc'd
        // one by one nor freed one by one. A value copied out of it shares the arena, so only
        // lists are parsed this way (they are consumed and dropped page by page).
        json::storage_ptr storage;
        if (response.body.size() >= 16 * 1024) {
            storage =
                json::make_shared_resource<json::monotonic_resource>(response.body.size() * 2);
        }
        json::value parsed = model::parse_json(response.body, parse_error, std::move(storage));
        if (response.status == 200) {
            if (!parse_error && parsed.is_object()) {
                budget_->on_success();
                normalize(parsed);
                co_return parsed;
            }
            if (writes) {
                ++metrics_.ambiguous_writes;
                NotionError error(
                    ErrorKind::ambiguous_write,
                    label + ": the answer was not valid JSON; the write may have happened");
                error.status = 200;
                error.route = label;
                throw error;
            }
            last.emplace(ErrorKind::retryable,
                         label + ": the answer was not valid JSON (" +
                             (parse_error ? parse_error.message() : "not an object") + ")");
            last->status = 200;
            last->route = label;
            continue;
        }
        const json::object* error_body =
            !parse_error && parsed.is_object() ? &parsed.as_object() : nullptr;
        const std::string code = error_body ? string_at(*error_body, "code") : "";
        std::string message = error_body ? string_at(*error_body, "message") : "";
        if (message.empty())
            message = "HTTP " + std::to_string(response.status) + " without a Notion error body";
        const json::object* additional = nullptr;
        if (error_body) {
            if (const auto* a = error_body->if_contains("additional_data"); a && a->is_object())
                additional = &a->as_object();
        }
        auto make = [&](ErrorKind kind) {
            NotionError error(kind, label + ": " + std::to_string(response.status) + " " +
                                        (code.empty() ? "" : code + ": ") + message);
            error.status = response.status;
            error.code = code;
            error.route = label;
            error.request_id = error_body ? string_at(*error_body, "request_id") : "";
            if (additional) {
                error.rate_limit_reason = string_at(*additional, "rate_limit_reason");
                if (const auto id = string_at(*additional, "committed_resource_id"); !id.empty()) {
                    error.committed_resource_id = id;
                }
            }
            return error;
        };
        const int status = response.status;
        if (status == 429 || status == 529) {
            NotionError error = make(ErrorKind::retryable);
            if (error.rate_limit_reason == "public_api_request_blocked") {
                // Notion blocked this connection: retrying cannot help (notion-api.md §3.1).
                spdlog::error(
                    "Notion blocked API access for this connection ({}); contact Notion support",
                    label);
                error.kind = ErrorKind::permanent;
                throw error;
            }
            auto retry_after = parse_retry_after(response.header("Retry-After"));
            if (!retry_after && additional)
                retry_after = parse_retry_after(string_at(*additional, "retry_after"));
            error.retry_after = retry_after.value_or(std::chrono::milliseconds(1000));
            ++metrics_.rate_limited;
            // One pause for the whole connection; every queued request waits it out.
            budget_->on_rate_limited(*error.retry_after);
            last = std::move(error);
            continue;
        }
        const bool server_error = status >= 500 || status == 409;
        if (server_error && writes) {
            ++metrics_.ambiguous_writes;
            throw make(ErrorKind::ambiguous_write);
        }
        if (server_error) {
            last = make(ErrorKind::retryable);
            continue;
        }
        throw make(ErrorKind::permanent);
    }
    throw *last;
}

asio::awaitable<json::object> NotionClient::users_me(RequestContext context) {
    Call c{.method = "GET", .target = "/v1/users/me", .route = "/v1/users/me", .context = context};
    co_return co_await call_object(std::move(c));
}

asio::awaitable<ListPage> NotionClient::search(json::object body, RequestContext context) {
    Call c{.method = "POST",
           .target = "/v1/search",
           .route = "/v1/search",
           .body = std::move(body),
           .context = context,
           .read_only = true};
    co_return co_await call_list(std::move(c));
}

Pager NotionClient::search_all(json::object body, RequestContext context) {
    return Pager([this, body = std::move(body),
                  context](std::optional<std::string> cursor) -> asio::awaitable<ListPage> {
        json::object b = body;
        if (cursor) b["start_cursor"] = *cursor;
        ListPage page = co_await search(std::move(b), context);
        co_return page;
    });
}

asio::awaitable<json::object> NotionClient::retrieve_database(std::string id,
                                                              RequestContext context) {
    Call c{.method = "GET",
           .target = "/v1/databases/" + url_encode(id),
           .route = "/v1/databases/{id}",
           .context = context};
    co_return co_await call_object(std::move(c));
}

asio::awaitable<json::object> NotionClient::retrieve_data_source(std::string id,
                                                                 RequestContext context) {
    Call c{.method = "GET",
           .target = "/v1/data_sources/" + url_encode(id),
           .route = "/v1/data_sources/{id}",
           .context = context};
    co_return co_await call_object(std::move(c));
}

asio::awaitable<ListPage> NotionClient::query_data_source(
    std::string id, json::object body, std::vector<std::string> filter_properties,
    RequestContext context) {
    Call c{
        .method = "POST",
        .target = "/v1/data_sources/" + url_encode(id) + "/query" + query_string(filter_properties),
        .route = "/v1/data_sources/{id}/query",
        .body = std::move(body),
        .context = context,
        .read_only = true};
    co_return co_await call_list(std::move(c));
}

Pager NotionClient::query_all(std::string id, json::object body,
                              std::vector<std::string> filter_properties, RequestContext context) {
    return Pager([this, id = std::move(id), body = std::move(body),
                  filter_properties = std::move(filter_properties),
                  context](std::optional<std::string> cursor) -> asio::awaitable<ListPage> {
        json::object b = body;
        if (cursor) b["start_cursor"] = *cursor;
        ListPage page = co_await query_data_source(id, std::move(b), filter_properties, context);
        co_return page;
    });
}

asio::awaitable<json::object> NotionClient::retrieve_page(
    std::string id, std::vector<std::string> filter_properties, RequestContext context) {
    Call c{.method = "GET",
           .target = "/v1/pages/" + url_encode(id) + query_string(filter_properties),
           .route = "/v1/pages/{id}",
           .context = context};
    co_return co_await call_object(std::move(c));
}

asio::awaitable<std::optional<json::object>> NotionClient::find_created(const Created& created,
                                                                        RequestContext context) {
    if (!created.page_id.empty()) {
        std::vector<std::string> all_properties;
        json::object page =
            co_await retrieve_page(created.page_id, std::move(all_properties), context);
        co_return page;
    }
    if (created.data_source_id.empty()) co_return std::nullopt;
    if (bot_user_id_.empty()) {
        const json::object me = co_await users_me(context);
        bot_user_id_ = string_at(me, "id");
    }
    // Created by us, at or after the first try (minute-rounded, so one minute of slack).
    const auto since = std::chrono::system_clock::to_time_t(created.first_try - 1min);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&since));
    json::object filter{{"timestamp", "created_time"},
                        {"created_time", json::object{{"on_or_after", stamp}}}};
    Pager pager = query_all(created.data_source_id, json::object{{"filter", filter}}, {}, context);
    for (;;) {
        std::optional<ListPage> page = co_await pager.next();
        if (!page) break;
        for (auto& result : page->results) {
            PageView view{result.as_object()};
            const auto* by = view.raw.if_contains("created_by");
            const bool ours =
                by && by->is_object() && string_at(by->as_object(), "id") == bot_user_id_;
            if (ours && title_of(view.properties()) == created.title) co_return std::move(view.raw);
        }
    }
    co_return std::nullopt;
}

asio::awaitable<std::optional<json::object>> NotionClient::find_created_page(
    std::string data_source_id, std::string title, std::chrono::system_clock::time_point since,
    RequestContext context) {
    const Created created{
        .data_source_id = std::move(data_source_id), .title = std::move(title), .first_try = since};
    co_return co_await find_created(created, std::move(context));
}

asio::awaitable<json::object> NotionClient::create_page(json::object body,
                                                        std::string idempotency_key,
                                                        RequestContext context) {
    if (auto it = created_.find(idempotency_key); it != created_.end()) {
        // Tried before: never send again blindly.
        std::optional<json::object> page = co_await find_created(it->second, context);
        if (page) {
            created_[idempotency_key].page_id = PageView{*page}.id();
            co_return std::move(*page);
        }
        NotionError error(
            ErrorKind::ambiguous_write,
            "POST /v1/pages: an earlier attempt with this idempotency key may have created the "
            "page and it cannot be found yet; retry the lookup later");
        error.idempotency_key = idempotency_key;
        error.route = "POST /v1/pages";
        throw error;
    }
    Created created{.first_try = std::chrono::system_clock::now()};
    if (const auto* parent = body.if_contains("parent"); parent && parent->is_object()) {
        created.data_source_id = string_at(parent->as_object(), "data_source_id");
    }
    if (const auto* properties = body.if_contains("properties");
        properties && properties->is_object()) {
        created.title = title_of(properties->as_object());
    }
    created_[idempotency_key] = created;
    try {
        Call c{.method = "POST",
               .target = "/v1/pages",
               .route = "/v1/pages",
               .body = std::move(body),
               .context = context};
        json::object page = co_await call_object(std::move(c));
        created_[idempotency_key].page_id = PageView{page}.id();
        co_return page;
    } catch (NotionError& error) {
        // 409 conflict_error: nothing was saved (notion-api.md §4): not an unknown outcome.
        if (error.kind != ErrorKind::ambiguous_write || error.status == 409) {
            created_.erase(idempotency_key);
            throw;
        }
        if (error.committed_resource_id)
            created_[idempotency_key].page_id = *error.committed_resource_id;
        error.idempotency_key = idempotency_key;
        throw;
    }
}

asio::awaitable<json::object> NotionClient::update_page(std::string id, json::object body,
                                                        RequestContext context) {
    Call c{.method = "PATCH",
           .target = "/v1/pages/" + url_encode(id),
           .route = "/v1/pages/{id}",
           .body = std::move(body),
           .context = context};
    co_return co_await call_object(std::move(c));
}

asio::awaitable<json::object> NotionClient::retrieve_page_property(
    std::string page_id, std::string property_id, std::optional<std::string> cursor,
    RequestContext context) {
    std::string target = "/v1/pages/" + url_encode(page_id) + "/properties/" +
                         url_encode(url_decode_once(property_id));
    if (cursor) target += "?start_cursor=" + url_encode(*cursor);
    Call c{.method = "GET",
           .target = std::move(target),
           .route = "/v1/pages/{id}/properties/{property_id}",
           .context = context};
    co_return co_await call_object(std::move(c));
}

Pager NotionClient::page_property_all(std::string page_id, std::string property_id,
                                      RequestContext context) {
    return Pager([this, page_id = std::move(page_id), property_id = std::move(property_id),
                  context](std::optional<std::string> cursor) -> asio::awaitable<ListPage> {
        json::object answer =
            co_await retrieve_page_property(page_id, property_id, cursor, context);
        if (string_at(answer, "object") == "list")
            co_return to_list(json::value(std::move(answer)));
        // A single property_item: a one-item list.
        ListPage page;
        page.results.push_back(std::move(answer));
        co_return page;
    });
}

asio::awaitable<ListPage> NotionClient::list_block_children(std::string id,
                                                            std::optional<std::string> cursor,
                                                            RequestContext context) {
    std::string target = "/v1/blocks/" + url_encode(id) + "/children?page_size=100";
    if (cursor) target += "&start_cursor=" + url_encode(*cursor);
    Call c{.method = "GET",
           .target = std::move(target),
           .route = "/v1/blocks/{id}/children",
           .context = context};
    co_return co_await call_list(std::move(c));
}

Pager NotionClient::block_children_all(std::string id, RequestContext context) {
    return Pager([this, id = std::move(id),
                  context](std::optional<std::string> cursor) -> asio::awaitable<ListPage> {
        ListPage page = co_await list_block_children(id, cursor, context);
        co_return page;
    });
}

asio::awaitable<ListPage> NotionClient::append_block_children(
    std::string id, json::array children, std::optional<std::string> after_block,
    RequestContext context) {
    json::object body{{"children", std::move(children)}};
    if (after_block && after_block->empty()) {
        if (config_.version != "2026-03-11") {
            throw std::invalid_argument(
                "appending at a block's start needs Notion-Version 2026-03-11 (position start)");
        }
        body["position"] = json::object{{"type", "start"}};
    } else if (after_block) {
        // The version adapter: `position` since 2026-03-11, `after` before (notion-api.md §2.4).
        if (config_.version == "2026-03-11") {
            body["position"] = json::object{{"type", "after_block"},
                                            {"after_block", json::object{{"id", *after_block}}}};
        } else {
            body["after"] = *after_block;
        }
    }
    Call c{.method = "PATCH",
           .target = "/v1/blocks/" + url_encode(id) + "/children",
           .route = "/v1/blocks/{id}/children",
           .body = std::move(body),
           .context = context};
    co_return co_await call_list(std::move(c));
}

asio::awaitable<json::object> NotionClient::update_block(std::string id, json::object body,
                                                         RequestContext context) {
    Call c{.method = "PATCH",
           .target = "/v1/blocks/" + url_encode(id),
           .route = "/v1/blocks/{id}",
           .body = std::move(body),
           .context = context};
    co_return co_await call_object(std::move(c));
}

asio::awaitable<json::object> NotionClient::delete_block(std::string id, RequestContext context) {
    Call c{.method = "DELETE",
           .target = "/v1/blocks/" + url_encode(id),
           .route = "/v1/blocks/{id}",
           .context = context};
    co_return co_await call_object(std::move(c));
}

std::string load_token(const std::optional<std::string>& literal,
                       const std::optional<std::string>& env,
                       const std::optional<std::string>& file) {
    const int given = literal.has_value() + env.has_value() + file.has_value();
    if (given != 1) {
        throw std::invalid_argument(
            "give the Notion token exactly one way: token, token_env or token_file");
    }
    std::string token;
    if (literal) token = *literal;
    if (env) {
        const char* value = std::getenv(env->c_str());
        if (value == nullptr)
            throw std::invalid_argument("environment variable " + *env + " is not set");
        token = value;
    }
    if (file) {
        std::ifstream in(*file);
        if (!in) throw std::invalid_argument("cannot read the token file " + *file);
        std::stringstream text;
        text << in.rdbuf();
        token = text.str();
    }
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
        token.pop_back();
    if (token.empty()) {
        throw std::invalid_argument(std::string("the Notion token is empty") +
                                    (file  ? " in " + *file
                                     : env ? " in $" + *env
                                           : ""));
    }
    return token;
}

}  // namespace syncd::notion
