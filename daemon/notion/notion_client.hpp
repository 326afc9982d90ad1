// NotionClient: one typed, budget-aware async call per endpoint of the Notion API that the
// daemon uses (DESIGN §3, notion-api.md §0, §3–§6). Every request waits for its turn in the
// RateBudget, is retried within RetryPolicy, and fails with one type, NotionError.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/net/http_client.hpp"
#include "daemon/notion/notion_error.hpp"
#include "daemon/notion/rate_budget.hpp"

namespace syncd::notion {

namespace json = boost::json;

inline constexpr std::string_view default_version = "2026-03-11";

struct RetryPolicy {
    int max_attempts = 6;  // per request; 429/529 answers with Retry-After do not count
    // How long in all a request waits out 429/529 answers before it fails.
    std::chrono::milliseconds max_rate_limit_wait{std::chrono::minutes(10)};
    std::chrono::milliseconds base{500};
    std::chrono::milliseconds cap{30'000};
};

struct ClientConfig {
    std::string base_url = "https://api.notion.com";
    std::string token = {};                              // never logged, never in an error
    std::string version = std::string(default_version);  // "2026-03-11" or "2025-09-03"
    net::ClientOptions http = {};
    RetryPolicy retry = {};
};

// Who asks, for the budget's priority queue and fairness. Not an aggregate on purpose: g++ 12
// destroys aggregate temporaries passed to coroutines twice.
struct RequestContext {
    RequestContext(Priority priority_ = Priority::poll, std::string job_ = "default")
        : priority(priority_), job(std::move(job_)) {}
    Priority priority;
    std::string job;
};

// One API page of a paginated list. `raw` holds the whole answer, unknown fields included.
struct ListPage {
    json::array results = {};
    std::optional<std::string> next_cursor = {};
    bool has_more = false;
    // request_status.type == "incomplete": a query hit the 10,000-result cap (notion-api.md §3.3).
    bool incomplete = false;
    json::object raw = {};
};

// Pages through a list one API page at a time; never holds more than one.
class Pager {
public:
    using Fetch = std::function<boost::asio::awaitable<ListPage>(std::optional<std::string>)>;
    explicit Pager(Fetch fetch) : fetch_(std::move(fetch)) {}
    // The next page, or nullopt after the last one.
    boost::asio::awaitable<std::optional<ListPage>> next();
    // Whether any page said the result was cut at Notion's cap.
    bool incomplete() const { return incomplete_; }

private:
    Fetch fetch_;
    std::optional<std::string> cursor_;
    bool done_ = false;
    bool incomplete_ = false;
};

// Typed reads of a page object; `raw` keeps everything else.
struct PageView {
    json::object raw;
    std::string id() const;
    std::string last_edited_time() const;
    std::string created_time() const;
    bool in_trash() const;
    // The data source of a database row, or empty.
    std::string data_source_id() const;
    const json::object& properties() const;
};

struct ClientMetrics {
    // (route, HTTP status or 0 below HTTP) -> count
    std::map<std::pair<std::string, int>, std::size_t> requests;
    std::size_t rate_limited = 0;
    std::size_t retries = 0;
    std::size_t ambiguous_writes = 0;
};

// The reads of the Notion API a Poller makes: a seam, so the Poller's logic (the minute overlap,
// the 10,000-result cap, the delete brake) is unit-tested with a fake. NotionClient is the real
// one.
class NotionReads {
public:
    virtual ~NotionReads() = default;
    virtual Pager search_all(json::object body, RequestContext context) = 0;
    virtual boost::asio::awaitable<json::object> retrieve_database(std::string id,
                                                                   RequestContext context) = 0;
    virtual boost::asio::awaitable<json::object> retrieve_data_source(std::string id,
                                                                      RequestContext context) = 0;
    virtual Pager query_all(std::string id, json::object body,
                            std::vector<std::string> filter_properties, RequestContext context) = 0;
    virtual boost::asio::awaitable<json::object> retrieve_page(
        std::string id, std::vector<std::string> filter_properties, RequestContext context) = 0;
    virtual Pager page_property_all(std::string page_id, std::string property_id,
                                    RequestContext context) = 0;
    virtual Pager block_children_all(std::string id, RequestContext context) = 0;
    // Notion's clock from its latest answer; nullopt before the first.
    virtual std::optional<std::chrono::system_clock::time_point> server_now() const = 0;
};

class NotionClient final : public NotionReads {
public:
    NotionClient(boost::asio::any_io_executor executor, ClientConfig config,
                 std::shared_ptr<RateBudget> budget);
    ~NotionClient() override;

    boost::asio::awaitable<json::object> users_me(RequestContext context = {});
    boost::asio::awaitable<ListPage> search(json::object body, RequestContext context = {});
    Pager search_all(json::object body, RequestContext context = {}) override;

    boost::asio::awaitable<json::object> retrieve_database(std::string id,
                                                           RequestContext context = {}) override;
    boost::asio::awaitable<json::object> retrieve_data_source(std::string id,
                                                              RequestContext context = {}) override;
    boost::asio::awaitable<ListPage> query_data_source(
        std::string id, json::object body, std::vector<std::string> filter_properties = {},
        RequestContext context = {});
    Pager query_all(std::string id, json::object body,
                    std::vector<std::string> filter_properties = {},
                    RequestContext context = {}) override;

    boost::asio::awaitable<json::object> retrieve_page(
        std::string id, std::vector<std::string> filter_properties = {},
        RequestContext context = {}) override;
    // Creates a page once per `idempotency_key`: a repeated call with a key that succeeded
    // returns that page; after an ambiguous failure the call does not re-send but looks the
    // page up (committed_resource_id, else created_by us with this title since the first try)
    // and throws ambiguous_write again only if it still cannot tell.
    boost::asio::awaitable<json::object> create_page(json::object body, std::string idempotency_key,
                                                     RequestContext context = {
                                                         Priority::write_back});
    // A page this connection created in `data_source_id` with `title` since `since` (the lookup
    // after an ambiguous creation, also from another process); nullopt if none is found.
    boost::asio::awaitable<std::optional<json::object>> find_created_page(
        std::string data_source_id, std::string title, std::chrono::system_clock::time_point since,
        RequestContext context = {Priority::write_back});
    boost::asio::awaitable<json::object> update_page(std::string id, json::object body,
                                                     RequestContext context = {
                                                         Priority::write_back});
    // One page of a property item (a property_item object, or a list for title, rich_text,
    // people, relation and rollup).
    boost::asio::awaitable<json::object> retrieve_page_property(
        std::string page_id, std::string property_id, std::optional<std::string> cursor = {},
        RequestContext context = {});
    Pager page_property_all(std::string page_id, std::string property_id,
                            RequestContext context = {}) override;

    boost::asio::awaitable<ListPage> list_block_children(std::string id,
                                                         std::optional<std::string> cursor = {},
                                                         RequestContext context = {
                                                             Priority::content});
    Pager block_children_all(std::string id, RequestContext context = {Priority::content}) override;
    // Appends at the end, or after `after_block` (`position` on 2026-03-11, `after` before); an
    // empty `after_block` is the parent's start (2026-03-11 only: std::invalid_argument before).
    boost::asio::awaitable<ListPage> append_block_children(
        std::string id, json::array children, std::optional<std::string> after_block = {},
        RequestContext context = {Priority::write_back});
    boost::asio::awaitable<json::object> update_block(std::string id, json::object body,
                                                      RequestContext context = {
                                                          Priority::write_back});
    boost::asio::awaitable<json::object> delete_block(std::string id, RequestContext context = {
                                                                          Priority::write_back});

    ClientMetrics metrics() const;
    const ClientConfig& config() const { return config_; }
    // Notion's clock (from the Date header of the latest answer), to the second; nullopt before
    // the first answer. Timestamps on pages are in this clock, not ours.
    std::optional<std::chrono::system_clock::time_point> server_now() const override;
    // When Notion last answered at all (any HTTP status), for readiness.
    std::chrono::steady_clock::time_point last_answer() const { return last_answer_; }
    // Aborts requests in flight and refuses new ones (they throw operation_aborted).
    void shutdown();

private:
    struct Created {
        std::string page_id = {};         // set once known
        std::string data_source_id = {};  // the parent, for the lookup
        std::string title = {};
        std::chrono::system_clock::time_point first_try = {};
    };

    // One request, its retries and its error. g++ 12 mishandles temporaries that live across a
    // co_await, so callers build a Call in its own statement and move it in.
    struct Call {
        std::string method;
        std::string target;
        std::string route;  // the path template, for metrics and messages
        std::optional<json::object> body = {};
        RequestContext context = {};
        // A POST that only reads (query, search): never an ambiguous write, safe to resend.
        bool read_only = false;
    };
    boost::asio::awaitable<json::value> call(Call request);
    boost::asio::awaitable<json::object> call_object(Call request);
    boost::asio::awaitable<ListPage> call_list(Call request);
    boost::asio::awaitable<std::optional<json::object>> find_created(const Created& created,
                                                                     RequestContext context);
    static ListPage to_list(json::value value);
    void note_server_time(const std::string& date);
    void normalize(json::value& value) const;

    ClientConfig config_;
    net::HttpClient http_;
    std::shared_ptr<RateBudget> budget_;
    ClientMetrics metrics_;
    std::map<std::string, Created> created_;  // by idempotency key
    std::string bot_user_id_;
    bool stopped_ = false;
    std::chrono::system_clock::duration server_offset_{};
    bool server_time_known_ = false;
    std::chrono::steady_clock::time_point last_answer_{};
};

// The Notion token from exactly one of: a literal, an environment variable, a file (trailing
// whitespace trimmed). Errors name the variable or file, never the value.
std::string load_token(const std::optional<std::string>& literal,
                       const std::optional<std::string>& env,
                       const std::optional<std::string>& file);

}  // namespace syncd::notion
