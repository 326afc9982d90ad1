#include "daemon/http/routes.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "connectors/change_inbox.hpp"
#include "daemon/http/console_assets.hpp"
#include "daemon/http/notion_webhook.hpp"
#include "daemon/http/status.hpp"
#include "daemon/model/hash.hpp"
#include "daemon/model/json_text.hpp"

namespace syncd::http {
namespace {

namespace json = boost::json;

ControlResponse json_response(int status, const json::object& body) {
    return {
        .status = status, .content_type = "application/json", .body = model::to_json_text(body)};
}

ControlResponse error(int status, const std::string& message) {
    return json_response(status, {{"error", message}});
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

}  // namespace

Routes::Routes(std::function<sync::Daemon&()> daemon, std::string secret, std::string state_dir,
               std::optional<std::string> auth_token)
    : daemon_(std::move(daemon)),
      auth_token_(std::move(auth_token)),
      secret_(std::move(secret)),
      state_dir_(std::move(state_dir)) {
    if (secret_.empty()) {
        // A token saved by an earlier handshake.
        std::ifstream in(std::filesystem::path(state_dir_) / "notion_webhook_token");
        std::getline(in, secret_);
    }
}

ControlResponse Routes::operator()(const ControlRequest& request) {
    std::string path = request.target.substr(0, request.target.find('?'));
    const bool get = request.method == "GET" || request.method == "HEAD";
    if (path == "/" || path.starts_with("/console/")) {
        if (!get) return error(405, "use GET");
        return console_file(path == "/" ? "/console/index.html" : path);
    }
    if (path == "/healthz") {
        if (!get) return error(405, "use GET");
        return {.status = 200, .content_type = "text/plain", .body = "ok\n"};
    }
    if (path == "/readyz") {
        if (!get) return error(405, "use GET");
        const auto not_ready = daemon_().not_ready();
        const bool ready = !not_ready;
        return {.status = ready ? 200 : 503,
                .content_type = "text/plain",
                .body = ready ? "ready\n" : "not ready: " + *not_ready + "\n"};
    }
    if (path == "/metrics") {
        if (!get) return error(405, "use GET");
        return {.status = 200,
                .content_type = "text/plain; version=0.0.4",
                .body = render_metrics(daemon_().snapshot(), metrics())};
    }
    if (path == "/v1/status") {
        if (!get) return error(405, "use GET");
        return json_response(200, render_status(daemon_().snapshot()));
    }
    if (path == "/v1/conflicts") {
        if (!get) return error(405, "use GET");
        json::array out;
        for (const auto& c :
             daemon_().mirror().conflicts(request.target.find("all=1") != std::string::npos)) {
            out.push_back(c.to_json());
        }
        return json_response(200, {{"conflicts", out}});
    }
    const std::string conflicts = "/v1/conflicts/";
    if (path.starts_with(conflicts) && path.ends_with("/resolve")) {
        if (request.method != "POST") return error(405, "use POST");
        std::int64_t id = 0;
        try {
            id = std::stoll(path.substr(conflicts.size()));
        } catch (const std::exception&) {
            return error(404, "no such conflict");
        }
        boost::system::error_code parse_error;
        const json::value body = model::parse_json(request.body, parse_error);
        if (parse_error || !body.is_object() || !body.as_object().contains("take") ||
            !body.at("take").is_string()) {
            return error(400,
                         "expected {\"take\": \"notion\" | \"external\" | \"value\", "
                         "\"value\": …}");
        }
        const std::string take(body.at("take").as_string());
        if (take != "notion" && take != "external" && take != "value")
            return error(400, "take is notion, external or value");
        const json::value value =
            body.as_object().contains("value") ? body.at("value") : json::value(nullptr);
        auto& mirror = daemon_().mirror();
        std::string target;
        for (const auto& c : mirror.conflicts(true)) {
            if (c.id == id) target = c.target;
        }
        if (target.empty()) return error(404, "no such conflict");
        if (!mirror.resolve_conflict(id, take, value))
            return error(409, "the conflict is not open");
        daemon_().write_back_now(target);  // carried out at once, not at the next tick
        return json_response(200, {{"resolved", id}, {"take", take}});
    }
    if (path == "/v1/history") {
        if (!get) return error(405, "use GET");
        return json_response(200, {{"samples", daemon_().history()}});
    }
    const std::string held = "/v1/held-deletes/";
    if (path.starts_with(held)) {
        // POST /v1/held-deletes/{sync}/{page_id} {"decision": "approve" | "keep"}
        if (request.method != "POST") return error(405, "use POST");
        const std::string rest = path.substr(held.size());
        const auto slash = rest.find('/');
        if (slash == std::string::npos)
            return error(404, "expected /v1/held-deletes/{sync}/{page_id}");
        const std::string job = rest.substr(0, slash);
        const std::string page = rest.substr(slash + 1);
        boost::system::error_code parse_error;
        const json::value body = model::parse_json(request.body, parse_error);
        const json::value* decision =
            !parse_error && body.is_object() ? body.as_object().if_contains("decision") : nullptr;
        if (decision == nullptr || !decision->is_string() ||
            (decision->get_string() != "approve" && decision->get_string() != "keep")) {
            return error(400,
                         "expected {\"decision\": \"approve\"} (the targets delete the page) or "
                         "{\"decision\": \"keep\"} (they keep it)");
        }
        const std::string what(decision->get_string());
        if (!daemon_().decide_held_delete(job, page, what))
            return error(404, "no delete of page " + page + " is held for sync `" + job + "`");
        return json_response(202, {{"sync", job}, {"page_id", page}, {"decision", what}});
    }
    if (path == "/v1/dead-letters") {
        if (!get) return error(405, "use GET");
        auto& mirror = daemon_().mirror();
        json::array out;
        for (const auto& d : mirror.dead_letters()) {
            json::object item{{"id", d.id},
                              {"target", d.target},
                              {"seq", d.seq},
                              {"error", d.error},
                              {"failed_at", d.failed_at}};
            if (const auto event = mirror.dead_letter_event(d.id)) {
                item["page_id"] = event->page_id;
                item["kind"] = event->kind;
            }
            out.push_back(std::move(item));
        }
        return json_response(200, {{"dead_letters", out}});
    }
    const std::string dead = "/v1/dead-letters/";
    if (path.starts_with(dead)) {
        // POST /v1/dead-letters/{id}/retry | /drop
        if (request.method != "POST") return error(405, "use POST");
        const std::string rest = path.substr(dead.size());
        const auto slash = rest.find('/');
        const std::string action = slash == std::string::npos ? "" : rest.substr(slash + 1);
        std::int64_t id = 0;
        try {
            id = std::stoll(rest.substr(0, slash));
        } catch (const std::exception&) {
            return error(404, "no such dead letter");
        }
        if (action == "retry") {
            if (!daemon_().retry_dead_letter(id)) return error(404, "no such dead letter");
            return json_response(202, {{"retry", id}});
        }
        if (action == "drop") {
            bool known = false;
            for (const auto& d : daemon_().mirror().dead_letters()) known = known || d.id == id;
            if (!known) return error(404, "no such dead letter");
            daemon_().mirror().drop_dead_letter(id);
            return json_response(200, {{"dropped", id}});
        }
        return error(404, "expected /v1/dead-letters/{id}/retry or /drop");
    }
    const std::string jobs = "/v1/jobs/";
    if (path.starts_with(jobs) && path.ends_with("/sync")) {
        if (request.method != "POST") return error(405, "use POST");
        const std::string name = path.substr(jobs.size(), path.size() - jobs.size() - 5);
        if (!daemon_().hint(name)) return error(404, "no sync job named `" + name + "`");
        return json_response(202, {{"job", name}, {"status", "polling now"}});
    }
    if (path == "/v1/webhooks/notion") {
        if (request.method != "POST") return error(405, "use POST");
        return webhook(request);
    }
    const std::string targets = "/v1/targets/";
    if (path.starts_with(targets)) return changes(request, path.substr(targets.size()));
    return error(404, "no such route: " + path);
}

boost::asio::awaitable<ControlResponse> Routes::handle(ControlRequest request) {
    const std::string path = request.target.substr(0, request.target.find('?'));
    if (path != "/v1/plan") co_return (*this)(request);
    if (request.method != "GET") co_return error(405, "use GET");
    // What the next cycle would do, as `notion-syncd plan` lists it, without polling first
    // (the running jobs poll on their schedule).
    std::optional<std::string> job;
    json::array actions = co_await daemon_().plan(job, true);
    co_return json_response(200, {{"actions", std::move(actions)}});
}

ControlResponse Routes::console_file(const std::string& path) {
    for (const auto& asset : console_assets()) {
        if (asset.path != path) continue;
        ControlResponse answer{.status = 200,
                               .content_type = std::string(asset.content_type),
                               .body = std::string(asset.body)};
        // Scripts and styles only from this server, no inline script or style element, no
        // frames, no forms posting elsewhere; the API is this origin too.
        answer.headers = {
            {"Content-Security-Policy",
             "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
             "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
            {"Referrer-Policy", "no-referrer"},
            {"X-Frame-Options", "DENY"},
            // The page is looked at again on each visit; its files may be cached a little while
            // (an upgraded daemon serves new ones within 5 minutes).
            {"Cache-Control", path.ends_with(".html") ? "no-cache" : "public, max-age=300"}};
        return answer;
    }
    return error(404, "no such console file: " + path);
}

ControlResponse Routes::changes(const ControlRequest& request, const std::string& rest) {
    std::vector<std::string> parts;
    for (std::size_t from = 0;;) {
        const auto slash = rest.find('/', from);
        parts.push_back(rest.substr(from, slash == std::string::npos ? slash : slash - from));
        if (slash == std::string::npos) break;
        from = slash + 1;
    }
    if (parts.size() < 3 || parts.size() > 4 || parts[2] != "changes")
        return error(404, "no such route: /v1/targets/" + rest);
    const std::string target = parts[0] + "/" + parts[1];
    const bool bearer = auth_token_ && constant_time_equal(request.header("authorization"),
                                                           "Bearer " + *auth_token_);
    connectors::ChangeInbox* inbox = daemon_().inbox(target);
    if (inbox == nullptr) {
        // Which targets exist is told only to a caller with the token (when there is one).
        if (auth_token_ && !bearer) return error(401, "unauthorized");
        return error(404, "no target `" + target +
                              "` that takes changes: a webhook target with `two_way:` does");
    }
    // Authenticated by the control token or by the connector's HMAC secret, as the outbound
    // webhook signs (this route is exempt from the server's own token check for the latter).
    if (!auth_token_ && inbox->secret().empty()) {
        return error(403,
                     "changes are refused until they can be authenticated: set "
                     "control.auth_token_file, or `secret` on connector " +
                         parts[1]);
    }
    // A POST signs its body; a GET (no body) signs its path, so one signature reads one request's
    // results only.
    const bool get = parts.size() == 4;
    const bool signed_body =
        !inbox->secret().empty() &&
        signature_valid(get ? std::string_view(request.target) : std::string_view(request.body),
                        request.header("x-notion-syncd-signature"), inbox->secret());
    if (!bearer && !signed_body) {
        return error(401,
                     "unauthorized: send Authorization: Bearer <control token>, or "
                     "X-Notion-Syncd-Signature: sha256=<HMAC-SHA256 of the body with the "
                     "connector's secret>");
    }
    if (get) {
        if (request.method != "GET" && request.method != "HEAD") return error(405, "use GET");
        std::int64_t id = 0;
        try {
            id = std::stoll(parts[3]);
        } catch (const std::exception&) {
            return error(404, "no such request");
        }
        if (!inbox->knows(id)) {
            return error(404,
                         "no such request here: results are kept for the last 1,000 requests "
                         "while the daemon runs, not across a restart or a configuration reload; "
                         "send again the changes you have no result for");
        }
        json::array results;
        for (auto& r : inbox->results_of(id)) results.push_back(std::move(r));
        return json_response(
            200, {{"request", id}, {"undecided", inbox->undecided(id)}, {"results", results}});
    }
    if (request.method != "POST") return error(405, "use POST");
    const std::string key = request.header("idempotency-key");
    const std::string remembered = target + "\n" + key;
    model::Hasher hasher;
    hasher.bytes(request.body);
    const std::string body_hash = hasher.hex();
    if (!key.empty()) {
        if (const auto it = idempotent_.find(remembered); it != idempotent_.end()) {
            if (it->second.first != body_hash) {
                return error(422, "Idempotency-Key `" + key +
                                      "` was used for another body; use a new key for new changes");
            }
            return it->second.second;  // the same request again: the same answer, taken once
        }
    }
    boost::system::error_code parse_error;
    const json::value body = model::parse_json(request.body, parse_error);
    const auto* list =
        !parse_error && body.is_object() ? body.as_object().if_contains("changes") : nullptr;
    if (list == nullptr || !list->is_array()) {
        return error(400,
                     "expected {\"changes\": [{\"page_id\" or \"external_key\", "
                     "\"properties\": {…}, \"deleted\": …}, …]} (connectors/exec/PROTOCOL.md)");
    }
    if (list->as_array().size() > 1000) return error(413, "at most 1,000 changes per request");
    std::vector<connectors::Change> read;
    std::size_t index = 0;
    for (const auto& item : list->as_array())
        read.push_back(connectors::read_change(item, index++));
    const std::int64_t id = inbox->next_request();
    const auto refused = inbox->take(id, read);
    json::array answers;
    for (const auto& change : read) {
        json::object a{{"index", change.index}};
        if (const auto it = refused.find(change.index); it != refused.end()) {
            a["status"] = "rejected";
            a["reason"] = it->second;
        } else {
            a["status"] = "accepted";
        }
        answers.push_back(std::move(a));
    }
    daemon_().write_back_now(target);
    ControlResponse answer = json_response(
        202, {{"request", id},
              {"target", target},
              {"changes", answers},
              {"results", "/v1/targets/" + target + "/changes/" + std::to_string(id)}});
    if (!key.empty()) {
        idempotent_[remembered] = {body_hash, answer};
        idempotent_order_.push_back(remembered);
        while (idempotent_order_.size() > 10'000) {
            idempotent_.erase(idempotent_order_.front());
            idempotent_order_.pop_front();
        }
    }
    return answer;
}

ControlResponse Routes::webhook(const ControlRequest& request) {
    const auto parsed = parse_webhook(request.body);
    if (!parsed) {
        ++malformed_;
        return error(400, "not a Notion webhook payload");
    }
    if (parsed->verification_token) {
        // The one-time handshake (unsigned). Keep the token where only we can read it; it is the
        // signing key of every later event.
        ++verifications_;
        const auto file = std::filesystem::path(state_dir_) / "notion_webhook_token";
        {
            const mode_t old = umask(077);
            std::ofstream out(file, std::ios::trunc);
            out << *parsed->verification_token << '\n';
            umask(old);
        }
        if (secret_.empty()) secret_ = *parsed->verification_token;
        spdlog::warn(
            "Notion webhook verification request received: token {} saved to {} (mode 0600). "
            "Paste it into the connection's Webhooks tab → Verify; events are then checked "
            "with it (control.webhook_secret_file may point to that file).",
            redact(*parsed->verification_token), file.string());
        return json_response(200, {{"status", "verification token received"}});
    }
    if (secret_.empty()) {
        ++bad_signatures_;
        spdlog::warn("Notion webhook event refused: no webhook secret (control.webhook_secret)");
        return error(401, "no webhook secret configured");
    }
    if (!signature_valid(request.body, request.header("x-notion-signature"), secret_)) {
        ++bad_signatures_;
        spdlog::warn("Notion webhook event refused: bad or missing X-Notion-Signature");
        return error(401, "bad signature");
    }
    const auto& event = *parsed->event;
    if (!event.id.empty()) {
        if (!seen_.insert(event.id).second) {
            ++duplicates_;
            return json_response(200, {{"status", "duplicate"}});
        }
        seen_order_.push_back(event.id);
        if (seen_order_.size() > 10'000) {
            seen_.erase(seen_order_.front());
            seen_order_.pop_front();
        }
    }
    auto& daemon = daemon_();
    auto job = daemon.job_for(event.entity_id, event.data_source_id);
    if (!job && !event.parent_id.empty()) job = daemon.job_for(event.parent_id, {});
    if (!job) {
        ++ignored_;
        return json_response(200, {{"status", "no job reads this entity"}});
    }
    ++accepted_;
    if (event.type == "data_source.schema_updated" || event.type == "database.schema_updated") {
        daemon.schema_changed(event.data_source_id.empty() ? event.entity_id
                                                           : event.data_source_id);
    }
    if (event.type == "data_source.created" || event.type == "data_source.deleted" ||
        event.type == "data_source.undeleted" || event.type == "data_source.moved") {
        daemon.sources_changed(*job);  // its list of data sources is read again at this poll
    }
    daemon.hint(*job);
    spdlog::debug("webhook {} for {} {}: polling job {}", event.type, event.entity_type,
                  event.entity_id, *job);
    return json_response(200, {{"status", "hinted"}, {"job", *job}});
}

std::string Routes::metrics() const {
    std::string out =
        "# HELP notion_syncd_webhooks_total Notion webhook requests by outcome\n"
        "# TYPE notion_syncd_webhooks_total counter\n";
    const std::pair<const char*, std::size_t> counts[] = {
        {"hinted", accepted_},      {"ignored", ignored_},
        {"duplicate", duplicates_}, {"bad_signature", bad_signatures_},
        {"malformed", malformed_},  {"verification", verifications_}};
    for (const auto& [outcome, n] : counts) {
        out += "notion_syncd_webhooks_total{outcome=\"" + std::string(outcome) + "\"} " +
               std::to_string(n) + "\n";
    }
    return out;
}

}  // namespace syncd::http
