#include "emulator/emulator.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <random>

#include "emulator/api_error.hpp"

namespace emulator {
namespace {

// How GET /__emulator/faults counts an applied fault: its status, or what it does instead.
std::string fault_kind(const Emulator::Fault& f) {
    if (f.status != 0) return std::to_string(f.status);
    if (f.reset_connection) return "reset_connection";
    if (f.truncate_body) return "truncate_body";
    if (f.commit_then_status != 0) return "commit_then_" + std::to_string(f.commit_then_status);
    return "delay";
}

constexpr std::size_t max_body_bytes = 500 * 1024;
constexpr std::size_t log_capacity = 10'000;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

Millis steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// The code Notion gives an error of this status when a fault names none (notion-api.md §4.2).
std::string default_code(int status) {
    switch (status) {
        case 400:
            return "validation_error";
        case 401:
            return "unauthorized";
        case 403:
            return "restricted_resource";
        case 404:
            return "object_not_found";
        case 409:
            return "conflict_error";
        case 429:
            return "rate_limited";
        case 502:
            return "bad_gateway";
        case 503:
            return "service_unavailable";
        case 504:
            return "gateway_timeout";
        case 529:
            return "service_overload";
        default:
            return "internal_server_error";
    }
}

// Notion's message for a code where notion-api.md §4.2 (or the emulator's own answer) gives one,
// so an injected fault reads like the real thing.
std::string default_message(std::string_view code) {
    if (code == "conflict_error") return "Conflict occurred while saving. Please try again.";
    if (code == "rate_limited")
        return "You have been rate limited. Please try again in a few minutes.";
    if (code == "unauthorized") return "API token is invalid.";
    if (code == "invalid_json") return "Error parsing JSON body.";
    if (code == "invalid_request_url") return "Invalid request URL.";
    return "Injected fault.";
}

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> out;
    while (!path.empty()) {
        const auto slash = path.find('/');
        if (slash != 0) out.emplace_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

// Matches "/v1/pages/{id}/properties/{id}"-style templates; fills the {…} segments.
bool match(const std::vector<std::string>& segments, std::string_view pattern,
           std::vector<std::string>& params) {
    const auto parts = split_path(pattern);
    if (parts.size() != segments.size()) return false;
    std::vector<std::string> found;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (parts[i].starts_with("{")) {
            found.push_back(segments[i]);
        } else if (parts[i] != segments[i]) {
            return false;
        }
    }
    params = std::move(found);
    return true;
}

constexpr std::string_view routes[] = {"/v1/users/me",
                                       "/v1/users",
                                       "/v1/users/{id}",
                                       "/v1/search",
                                       "/v1/databases",
                                       "/v1/databases/{id}",
                                       "/v1/databases/{id}/query",
                                       "/v1/data_sources",
                                       "/v1/data_sources/{id}",
                                       "/v1/data_sources/{id}/query",
                                       "/v1/pages",
                                       "/v1/pages/{id}",
                                       "/v1/pages/{id}/move",
                                       "/v1/pages/{id}/properties/{property_id}",
                                       "/v1/blocks/{id}/children",
                                       "/v1/blocks/{id}"};

// The path template a request counts under, e.g. /v1/pages/{id}; the path itself if none fits.
std::string route_of(std::string_view path) {
    const auto segments = split_path(path);
    std::vector<std::string> ignored;
    for (const auto route : routes) {
        if (match(segments, route, ignored)) return std::string(route);
    }
    return std::string(path);
}

json::object parse_body(const std::string& body) {
    if (body.empty()) return {};
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) throw ApiError(400, "invalid_json", "Error parsing JSON body.");
    if (!v.is_object()) {
        throw validation_error("body failed validation: body should be an object, instead was `" +
                               json::serialize(v).substr(0, 60) + "`.");
    }
    return std::move(v.as_object());
}

std::size_t query_page_size(const std::vector<std::pair<std::string, std::string>>& query) {
    for (const auto& [key, value] : query) {
        if (key != "page_size") continue;
        std::size_t n = 0;
        const auto r = std::from_chars(value.data(), value.data() + value.size(), n);
        if (r.ec != std::errc{} || r.ptr != value.data() + value.size() || n < 1 || n > 100) {
            throw validation_error(
                "query failed validation: query.page_size should be a number between 1 and 100, "
                "instead was `\"" +
                value + "\"`.");
        }
        return n;
    }
    return 100;
}

std::optional<std::string> query_cursor(
    const std::vector<std::pair<std::string, std::string>>& query) {
    for (const auto& [key, value] : query) {
        if (key == "start_cursor" && !value.empty()) return value;
    }
    return std::nullopt;
}

// `filter_properties` arrives as repeated keys, with or without brackets (notion-api.md §6.4).
std::vector<std::string> filter_properties(
    const std::vector<std::pair<std::string, std::string>>& query) {
    std::vector<std::string> out;
    for (const auto& [key, value] : query) {
        if (key == "filter_properties" || key == "filter_properties[]") out.push_back(value);
    }
    return out;
}

std::string string_field(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) {
        throw validation_error("body failed validation: body." + std::string(key) +
                               " should be a string.");
    }
    return std::string(v->get_string());
}

std::int64_t int_field(const json::object& o, std::string_view key, std::int64_t fallback) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_int64() && !v->is_uint64()) {
        throw validation_error("body failed validation: body." + std::string(key) +
                               " should be an integer.");
    }
    return v->to_number<std::int64_t>();
}

}  // namespace

std::string HttpRequest::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (lower(key) == lower(name)) return value;
    }
    return {};
}

Emulator::Emulator(Options options)
    : options_(std::move(options)),
      workspace_(clock_, options_.seed != 0 ? options_.seed : std::random_device{}()),
      request_ids_(options_.seed != 0 ? options_.seed + 1 : std::random_device{}()),
      jitter_(options_.seed + 2),
      fault_dice_(options_.seed != 0 ? options_.seed + 3 : std::random_device{}()) {
    if (options_.owner_token) workspace_.add_connection(*options_.owner_token, "owner", true, true);
    int n = 0;
    for (const auto& token : options_.connection_tokens) {
        workspace_.add_connection(token, "connection-" + std::to_string(++n), false, true);
    }
    workspace_.set_search_lag(options_.search_lag_ms);
}

std::string Emulator::request_id() { return request_ids_.uuid(); }

HttpResponse Emulator::error(int status, const std::string& code, const std::string& message,
                             json::object additional) const {
    json::object body{{"object", "error"},
                      {"status", status},
                      {"code", code},
                      {"message", message},
                      {"request_id", const_cast<Emulator*>(this)->request_id()}};
    if (!additional.empty()) body["additional_data"] = std::move(additional);
    HttpResponse r{.status = status, .body = json::serialize(body)};
    r.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
    return r;
}

HttpResponse Emulator::ok(json::object body) const {
    if (body.contains("object") && body.at("object") == "list") {
        body["request_id"] = const_cast<Emulator*>(this)->request_id();
    }
    HttpResponse r{.status = 200, .body = json::serialize(body)};
    r.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
    return r;
}

void Emulator::log(const std::string& connection, const std::string& method,
                   const std::string& path, const std::string& route, int status) {
    ++counters_[{connection, method, route, status}];
    log_.push_back({connection, method, path, status, clock_.now()});
    if (log_.size() > log_capacity) log_.pop_front();
}

std::optional<HttpResponse> Emulator::rate_limit(const Connection& connection) {
    const Millis now = steady_ms();
    const Millis window = std::max<Millis>(options_.rate_window_ms, 1);
    auto over = [&](Window& w, int limit) -> std::optional<Millis> {
        if (limit <= 0) return std::nullopt;
        if (w.count == 0 || now >= w.start + window) w = Window{.start = now, .count = 0};
        if (w.count >= limit) return w.start + window - now;
        return std::nullopt;
    };
    auto& mine = windows_[connection.name];
    std::optional<Millis> wait = over(mine, options_.rate_requests);
    std::string reason = "public_api_request_rate_limit";
    if (!wait) {
        wait = over(workspace_window_, options_.workspace_requests);
        reason = "public_api_space_request_rate_limit";
    }
    if (wait) {
        // Whole seconds, rounded up, at least one (notion-api.md §3.1).
        const Millis seconds = std::max<Millis>(1, (*wait + 999) / 1000);
        HttpResponse r = error(
            429, "rate_limited", "You have been rate limited. Please try again in a few minutes.",
            {{"rate_limit_reason", reason}, {"retry_after", std::to_string(seconds)}});
        r.headers.emplace_back("Retry-After", std::to_string(seconds));
        return r;
    }
    ++mine.count;
    if (options_.workspace_requests > 0) ++workspace_window_.count;
    return std::nullopt;
}

HttpResponse Emulator::handle(const HttpRequest& request) {
    HttpResponse response = answer(request);
    // Every answer carries the server's time (the emulator's clock), as Notion's do; clients
    // use it to reason about minute-rounded timestamps without trusting their own clock.
    const std::time_t seconds = static_cast<std::time_t>(clock_.now() / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char date[64];
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    response.headers.emplace_back("Date", date);
    return response;
}

HttpResponse Emulator::answer(const HttpRequest& request) {
    const std::string_view target = request.target;
    const auto qmark = target.find('?');
    const std::string_view path = target.substr(0, qmark);
    const std::string_view query = qmark == std::string_view::npos ? "" : target.substr(qmark + 1);
    if (path.starts_with("/__emulator/")) {
        try {
            return control(request, path);
        } catch (const ApiError& e) {
            return error(e.status, e.code, e.what(), e.additional_data);
        } catch (const std::exception& e) {
            return error(400, "validation_error", e.what());
        }
    }

    const std::string authorization = request.header("authorization");
    const Connection* connection = nullptr;
    if (authorization.size() > 7 && lower(authorization.substr(0, 7)) == "bearer ") {
        connection = workspace_.find_token(authorization.substr(7));
    }
    std::string route = route_of(path);
    if (connection == nullptr) {
        HttpResponse r = error(401, "unauthorized", "API token is invalid.");
        log("unknown", request.method, std::string(path), route, r.status);
        return r;
    }

    // Injected faults: the first matching one with uses left (and, with a probability, drawn).
    Fault applied;
    for (auto& f : faults_) {
        if (f.count <= 0) continue;
        if (!f.method.empty() && lower(f.method) != lower(request.method)) continue;
        if (!f.path_prefix.empty() && !path.starts_with(f.path_prefix)) continue;
        if (!f.token.empty() && f.token != connection->token && f.token != connection->name)
            continue;
        if (f.probability < 1.0 &&
            std::uniform_real_distribution<double>(0.0, 1.0)(fault_dice_) >= f.probability)
            continue;
        --f.count;
        applied = f;
        ++faults_applied_[fault_kind(f)];
        break;
    }
    std::erase_if(faults_, [](const Fault& f) { return f.count <= 0; });

    HttpResponse response;
    if (applied.status != 0) {
        json::object additional;
        if (applied.retry_after) additional["retry_after"] = std::to_string(*applied.retry_after);
        if (applied.status == 429)
            additional["rate_limit_reason"] = applied.rate_limit_reason.empty()
                                                  ? std::string("public_api_request_rate_limit")
                                                  : applied.rate_limit_reason;
        const std::string code = applied.code.empty() ? default_code(applied.status) : applied.code;
        response =
            error(applied.status, code,
                  applied.message.empty() ? default_message(code) : applied.message, additional);
        if (applied.retry_after)
            response.headers.emplace_back("Retry-After", std::to_string(*applied.retry_after));
    } else if (auto limited = rate_limit(*connection)) {
        response = std::move(*limited);
    } else {
        response = api(request, *connection, path, query, route);
        if (applied.commit_then_status != 0 && response.status == 200) {
            // The write happened; the answer says it may not have (notion-api.md §4.3).
            response = error(applied.commit_then_status, "service_unavailable",
                             "Notion is unavailable. The request may have been applied.",
                             {{"from", "public_api"},
                              {"elapsed_ms", 60'000},
                              {"deadline_ms", 60'000},
                              {"retry_guidance",
                               json::array{"Read the object again to confirm the saved change.",
                                           "Do not repeat the write."}},
                              {"committed_resource_id", workspace_.last_committed_id()}});
        }
    }
    response.reset_connection = applied.reset_connection;
    response.truncate_body = applied.truncate_body;
    response.delay_ms = applied.delay_ms + options_.latency_fixed_ms;
    if (options_.latency_jitter_ms > 0) {
        response.delay_ms += static_cast<Millis>(
            jitter_() % static_cast<std::uint64_t>(options_.latency_jitter_ms + 1));
    }
    log(connection->name, request.method, std::string(path), route, response.status);
    return response;
}

HttpResponse Emulator::api(const HttpRequest& request, const Connection& connection,
                           std::string_view path, std::string_view query, std::string& route) {
    try {
        const std::string version_header = request.header("notion-version");
        if (version_header.empty()) {
            throw ApiError(400, "missing_version",
                           "Notion-Version header failed validation: Notion-Version header should "
                           "be defined, instead was `undefined`.");
        }
        const auto version = parse_version(version_header);
        if (!version) {
            throw validation_error(
                "Notion-Version header failed validation: Notion-Version header should be one of "
                "`2022-06-28`, `2025-09-03`, `2026-03-11`, instead was `" +
                version_header + "`.");
        }
        if (request.body.size() > max_body_bytes) {
            throw validation_error("body failed validation: the request body is " +
                                   std::to_string(request.body.size()) +
                                   " bytes, over the 500KB limit.");
        }
        const Caller caller{.connection = &connection, .version = *version};
        const auto segments = split_path(path);
        const auto params = parse_query(query);
        const std::string& method = request.method;
        std::vector<std::string> p;
        auto is = [&](std::string_view m, std::string_view pattern) {
            if (method != m || !match(segments, pattern, p)) return false;
            route = std::string(pattern);
            return true;
        };
        const bool legacy = *version == Version::v2022_06_28;
        if (!segments.empty() && segments.size() > 1 && segments[1] == "data_sources" && legacy) {
            throw invalid_request_url();
        }
        if (is("GET", "/v1/users/me")) return ok(workspace_.users_me(caller));
        if (is("GET", "/v1/users")) {
            return ok(workspace_.list_users(caller, query_cursor(params), query_page_size(params)));
        }
        if (is("GET", "/v1/users/{id}")) return ok(workspace_.get_user(caller, p[0]));
        if (is("POST", "/v1/search"))
            return ok(workspace_.search(caller, parse_body(request.body)));
        if (is("POST", "/v1/databases"))
            return ok(workspace_.create_database(caller, parse_body(request.body)));
        if (is("GET", "/v1/databases/{id}")) return ok(workspace_.get_database(caller, p[0]));
        if (is("PATCH", "/v1/databases/{id}")) {
            return ok(workspace_.update_database(caller, p[0], parse_body(request.body)));
        }
        if (is("POST", "/v1/databases/{id}/query")) {
            if (!legacy) throw invalid_request_url();
            throw ApiError(400, "invalid_request",
                           "Unsupported request: notion-emulator does not implement database "
                           "queries of Notion-Version 2022-06-28; use 2025-09-03 or later and POST "
                           "/v1/data_sources/{id}/query.");
        }
        if (is("POST", "/v1/data_sources")) {
            return ok(workspace_.create_data_source(caller, parse_body(request.body)));
        }
        if (is("GET", "/v1/data_sources/{id}")) return ok(workspace_.get_data_source(caller, p[0]));
        if (is("PATCH", "/v1/data_sources/{id}")) {
            return ok(workspace_.update_data_source(caller, p[0], parse_body(request.body)));
        }
        if (is("POST", "/v1/data_sources/{id}/query")) {
            RawList list = workspace_.query_data_source(caller, p[0], parse_body(request.body),
                                                        filter_properties(params));
            list.envelope["request_id"] = request_id();
            HttpResponse r{.status = 200, .body = list.serialize()};
            r.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
            return r;
        }
        if (is("POST", "/v1/pages")) {
            return ok(workspace_.create_page(caller, parse_body(request.body),
                                             filter_properties(params)));
        }
        if (is("GET", "/v1/pages/{id}")) {
            return ok(workspace_.get_page(caller, p[0], filter_properties(params)));
        }
        if (is("POST", "/v1/pages/{id}/move")) {
            return ok(workspace_.move_page(caller, p[0], parse_body(request.body)));
        }
        if (is("PATCH", "/v1/pages/{id}")) {
            return ok(workspace_.update_page(caller, p[0], parse_body(request.body),
                                             filter_properties(params)));
        }
        if (is("GET", "/v1/pages/{id}/properties/{property_id}")) {
            return ok(workspace_.get_page_property(caller, p[0], url_decode(p[1]),
                                                   query_cursor(params), query_page_size(params)));
        }
        if (is("GET", "/v1/blocks/{id}/children")) {
            return ok(workspace_.list_children(caller, p[0], query_cursor(params),
                                               query_page_size(params)));
        }
        if (is("PATCH", "/v1/blocks/{id}/children")) {
            return ok(workspace_.append_children(caller, p[0], parse_body(request.body)));
        }
        if (is("GET", "/v1/blocks/{id}")) return ok(workspace_.get_block(caller, p[0]));
        if (is("PATCH", "/v1/blocks/{id}")) {
            return ok(workspace_.update_block(caller, p[0], parse_body(request.body)));
        }
        if (is("DELETE", "/v1/blocks/{id}")) return ok(workspace_.delete_block(caller, p[0]));
        throw invalid_request_url();
    } catch (const ApiError& e) {
        return error(e.status, e.code, e.what(), e.additional_data);
    } catch (const std::exception& e) {
        return error(500, "internal_server_error", std::string("notion-emulator: ") + e.what());
    }
}

HttpResponse Emulator::control(const HttpRequest& request, std::string_view path) {
    const std::string name(path.substr(std::string_view("/__emulator/").size()));
    const bool post = request.method == "POST";
    const json::object body = post ? parse_body(request.body) : json::object{};
    auto done = [&](json::object out = {{"ok", true}}) {
        HttpResponse r{.status = 200, .body = json::serialize(out)};
        r.headers.emplace_back("Content-Type", "application/json");
        return r;
    };
    if (post && name == "reset") {
        workspace_.reset();
        faults_.clear();
        faults_applied_.clear();
        windows_.clear();
        workspace_window_ = {};
        log_.clear();
        counters_.clear();
        subscriptions_.clear();
        pending_.clear();
        outbox_.clear();
        return done();
    }
    if (post && name == "connections") {
        const Connection& c = workspace_.add_connection(string_field(body, "token"),
                                                        string_field(body, "name"), false, false);
        return done({{"ok", true}, {"name", c.name}, {"bot_user_id", c.user_id}});
    }
    if (post && (name == "share" || name == "unshare")) {
        Connection* c = workspace_.find_connection(string_field(body, "token"));
        if (c == nullptr) throw validation_error("No connection with that token or name.");
        const auto id = normalize_uuid(string_field(body, "object_id"));
        if (!id) throw validation_error("object_id should be a UUID.");
        if (name == "share") {
            workspace_.share(*c, *id);
        } else {
            workspace_.unshare(*c, *id);
        }
        return done();
    }
    if (name == "clock") {
        if (post) {
            if (body.contains("set")) {
                const auto t = parse_time(string_field(body, "set"));
                if (!t) throw validation_error("set should be an ISO 8601 date-time.");
                const auto* freeze = body.if_contains("freeze");
                clock_.set(*t, freeze != nullptr && freeze->is_bool() && freeze->get_bool());
            }
            if (body.contains("advance_ms")) clock_.advance(int_field(body, "advance_ms", 0));
        }
        return done({{"now", format_time(clock_.now())}});
    }
    if (post && name == "rate_limit") {
        options_.rate_requests =
            static_cast<int>(int_field(body, "requests", options_.rate_requests));
        options_.rate_window_ms = int_field(body, "window_ms", options_.rate_window_ms);
        options_.workspace_requests = static_cast<int>(int_field(body, "workspace_requests", 0));
        windows_.clear();
        workspace_window_ = {};
        return done();
    }
    if (post && name == "latency") {
        options_.latency_fixed_ms = int_field(body, "fixed_ms", 0);
        options_.latency_jitter_ms = int_field(body, "jitter_ms", 0);
        return done();
    }
    if (post && name == "keep_alive") {
        options_.keep_alive_idle_ms = int_field(body, "idle_ms", 300'000);
        return done();
    }
    if (post && name == "search_lag") {
        options_.search_lag_ms = int_field(body, "delay_ms", 0);
        workspace_.set_search_lag(options_.search_lag_ms);
        return done();
    }
    if (post && name == "fixture") {
        workspace_.load_fixture(body);
        return done();
    }
    if (post && name == "faults" && body.contains("clear")) {
        faults_.clear();  // the applied ones stay counted
        return done();
    }
    if (post && name == "faults") {
        Fault f{.count = static_cast<int>(int_field(body, "count", 1))};
        if (const auto* p = body.if_contains("probability")) {
            if (!p->is_number() || p->to_number<double>() <= 0.0 || p->to_number<double>() > 1.0)
                throw validation_error("probability should be a number in (0, 1].");
            f.probability = p->to_number<double>();
        }
        if (const auto* m = body.if_contains("match"); m && m->is_object()) {
            const auto& mo = m->as_object();
            if (mo.contains("method")) f.method = string_field(mo, "method");
            if (mo.contains("path_prefix")) f.path_prefix = string_field(mo, "path_prefix");
            if (mo.contains("token")) f.token = string_field(mo, "token");
        }
        const auto* fault = body.if_contains("fault");
        if (fault == nullptr || !fault->is_object())
            throw validation_error("fault should be an object.");
        const auto& fo = fault->as_object();
        if (fo.contains("status")) {
            f.status = static_cast<int>(int_field(fo, "status", 500));
            f.code = fo.contains("code") ? string_field(fo, "code") : "";
            if (fo.contains("message")) f.message = string_field(fo, "message");
            if (fo.contains("rate_limit_reason")) {
                f.rate_limit_reason = string_field(fo, "rate_limit_reason");
            }
            if (fo.contains("retry_after"))
                f.retry_after = static_cast<int>(int_field(fo, "retry_after", 1));
        } else if (fo.contains("reset_connection")) {
            f.reset_connection = true;
        } else if (fo.contains("truncate_body")) {
            f.truncate_body = true;
        } else if (fo.contains("delay_ms")) {
            f.delay_ms = int_field(fo, "delay_ms", 0);
        } else if (fo.contains("commit_then_status")) {
            f.commit_then_status = static_cast<int>(int_field(fo, "commit_then_status", 503));
        } else {
            throw validation_error(
                "fault should have status, reset_connection, truncate_body, delay_ms or "
                "commit_then_status.");
        }
        faults_.push_back(std::move(f));
        return done();
    }
    if (!post && name == "faults") {
        json::object applied;
        std::size_t total = 0;
        for (const auto& [kind, n] : faults_applied_) {
            applied[kind] = n;
            total += n;
        }
        std::size_t pending = 0;
        for (const auto& f : faults_) pending += static_cast<std::size_t>(f.count);
        return done({{"applied", std::move(applied)}, {"total", total}, {"pending", pending}});
    }
    if (!post && name == "requests") {
        json::array counters;
        for (const auto& [key, count] : counters_) {
            const auto& [connection, method, route, status] = key;
            counters.push_back(json::object{{"connection", connection},
                                            {"method", method},
                                            {"route", route},
                                            {"status", status},
                                            {"count", count}});
        }
        json::array requests;
        for (const auto& r : log_) {
            requests.push_back(json::object{{"connection", r.connection},
                                            {"method", r.method},
                                            {"path", r.path},
                                            {"status", r.status},
                                            {"at", format_time(r.at)}});
        }
        return done({{"counters", counters}, {"requests", requests}});
    }
    if (post && name == "webhooks") {
        Subscription s{.id = request_ids_.uuid(),
                       .url = string_field(body, "url"),
                       .verification_token = string_field(body, "verification_token"),
                       .connection = string_field(body, "connection"),
                       .aggregation_delay_ms = int_field(body, "aggregation_delay_ms", 0)};
        if (workspace_.find_connection(s.connection) == nullptr) {
            throw validation_error("No connection with that token or name.");
        }
        if (!s.url.starts_with("http://")) throw validation_error("url should be an http:// URL.");
        // Notion first sends the verification token, unsigned (notion-api.md §9.2).
        outbox_.push_back(
            {s.url,
             {{"Content-Type", "application/json"}},
             json::serialize(json::object{{"verification_token", s.verification_token}})});
        subscriptions_.push_back(std::move(s));
        return done({{"ok", true}, {"subscription_id", subscriptions_.back().id}});
    }
    throw ApiError(404, "object_not_found", "No such control endpoint: " + std::string(path));
}

std::vector<WebhookDelivery> Emulator::due_webhooks() {
    const Millis now = steady_ms();
    for (auto& event : workspace_.take_events()) {
        for (std::size_t i = 0; i < subscriptions_.size(); ++i) {
            const Connection* c = workspace_.find_connection(subscriptions_[i].connection);
            if (c == nullptr || !workspace_.can_see(*c, event.entity_id)) continue;
            // Aggregated per entity and type over the subscription's delay (notion-api.md §9.6).
            auto same = std::find_if(pending_.begin(), pending_.end(), [&](const PendingEvent& p) {
                return p.subscription == i && p.event.entity_id == event.entity_id &&
                       p.event.type == event.type;
            });
            if (same == pending_.end()) {
                pending_.push_back({i,
                                    event,
                                    now + subscriptions_[i].aggregation_delay_ms,
                                    {{event.author_id, event.author_is_bot}}});
                continue;
            }
            same->authors.insert({event.author_id, event.author_is_bot});
            same->event.at = event.at;
            for (const auto& p : event.updated_properties) {
                auto& list = same->event.updated_properties;
                if (std::find(list.begin(), list.end(), p) == list.end()) list.push_back(p);
            }
            for (const auto& b : event.updated_blocks) {
                auto& list = same->event.updated_blocks;
                if (std::find(list.begin(), list.end(), b) == list.end()) list.push_back(b);
            }
        }
    }
    std::vector<WebhookDelivery> out = std::exchange(outbox_, {});
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->due > now) {
            ++it;
            continue;
        }
        const Subscription& s = subscriptions_[it->subscription];
        const ChangeEvent& e = it->event;
        json::array authors;
        for (const auto& [id, is_bot] : it->authors) {
            authors.push_back(json::object{{"id", id}, {"type", is_bot ? "bot" : "person"}});
        }
        json::object data;
        data["parent"] = workspace_.webhook_parent(e.entity_id);
        if (e.type == "page.properties_updated") data["updated_properties"] = e.updated_properties;
        if (e.type == "data_source.schema_updated")
            data["updated_properties"] = e.updated_properties;
        if (e.type == "page.content_updated") data["updated_blocks"] = e.updated_blocks;
        const Connection* c = workspace_.find_connection(s.connection);
        json::object payload{{"id", request_ids_.uuid()},
                             {"timestamp", format_time(e.at)},
                             {"workspace_id", workspace_.workspace_id()},
                             {"workspace_name", workspace_.workspace_name()},
                             {"subscription_id", s.id},
                             {"integration_id", c ? c->user_id : ""},
                             {"type", e.type},
                             {"authors", authors},
                             {"attempt_number", 1},
                             {"api_version", "2026-03-11"},
                             {"entity", json::object{{"id", e.entity_id}, {"type", e.entity_type}}},
                             {"data", data}};
        std::string body = json::serialize(payload);
        out.push_back(
            {s.url,
             {{"Content-Type", "application/json"},
              {"X-Notion-Signature", "sha256=" + hmac_sha256_hex(s.verification_token, body)}},
             std::move(body)});
        it = pending_.erase(it);
    }
    return out;
}

}  // namespace emulator
