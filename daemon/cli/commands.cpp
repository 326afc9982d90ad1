#include "daemon/cli/commands.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <boost/system/system_error.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <tuple>

#include "daemon/http/status.hpp"
#include "daemon/model/json_text.hpp"
#include "daemon/net/http_client.hpp"
#include "daemon/net/url.hpp"
#include "daemon/notion/notion_client.hpp"
#include "daemon/sync/daemon.hpp"

namespace syncd::cli {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

// Runs one coroutine on `io` and returns its result, or rethrows.
template <typename T>
T run_task(asio::io_context& io, asio::awaitable<T> task) {
    auto future = asio::co_spawn(io, std::move(task), asio::use_future);
    io.run();
    return future.get();
}

std::string string_at(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::int64_t integer(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr) return 0;
    if (v->is_double()) return static_cast<std::int64_t>(v->get_double());  // lag_s: 3.4
    return v->is_number() ? v->to_number<std::int64_t>() : 0;
}

std::string title_of(const json::object& o) {
    std::string text;
    auto collect = [&](const json::value& rich) {
        if (!rich.is_array()) return;
        for (const auto& t : rich.as_array()) {
            if (const auto* p = t.as_object().if_contains("plain_text"); p && p->is_string())
                text += p->get_string();
        }
    };
    if (const auto* t = o.if_contains("title")) collect(*t);
    if (const auto* props = o.if_contains("properties"); props && props->is_object()) {
        for (const auto& [name, p] : props->as_object()) {
            if (p.is_object() && string_at(p.as_object(), "type") == "title")
                collect(p.as_object().at("title"));
        }
    }
    return text;
}

// One node of `discover`'s tree.
struct Node {
    std::string object = {};  // page | database | data_source
    std::string id = {};
    std::string title = {};
    std::string parent = {};  // empty: a root (shared directly, or its parent is not visible)
    std::size_t rows = 0;
    std::vector<std::string> children = {};
};

class Tree {
public:
    void add(const json::object& o) {
        const std::string object = string_at(o, "object");
        const std::string id = string_at(o, "id");
        const auto* parent_value = o.if_contains("parent");
        const json::object parent =
            parent_value && parent_value->is_object() ? parent_value->get_object() : json::object{};
        const std::string parent_type = string_at(parent, "type");
        if (object == "data_source") {
            ++data_sources;
            const std::string database = string_at(parent, "database_id");
            Node& ds = node(id, "data_source");
            ds.title = title_of(o);
            if (!database.empty()) {
                Node& db = node(database, "database");
                if (db.title.empty()) db.title = ds.title;
                ds.parent = database;
                if (const auto* dp = o.if_contains("database_parent"); dp && dp->is_object())
                    db.parent = string_at(dp->get_object(), "page_id");
            }
            return;
        }
        ++pages;
        if (parent_type == "data_source_id" || parent_type == "database_id") {
            // A database row: counted, not listed (a database holds thousands).
            const std::string owner = string_at(parent, parent_type);
            ++node(owner, parent_type == "data_source_id" ? "data_source" : "database").rows;
            return;
        }
        Node& page = node(id, "page");
        page.title = title_of(o);
        page.parent = string_at(parent, "page_id");
    }

    json::object to_json() {
        link();
        json::array roots;
        for (const auto& id : roots_) roots.push_back(node_json(id));
        return {{"pages", pages}, {"data_sources", data_sources}, {"objects", roots}};
    }

    std::size_t pages = 0;
    std::size_t data_sources = 0;

private:
    Node& node(const std::string& id, const std::string& object) {
        auto [it, added] = nodes_.try_emplace(id, Node{.object = object, .id = id});
        if (!added && it->second.object.empty()) it->second.object = object;
        if (added) order_.push_back(id);
        return it->second;
    }

    void link() {
        roots_.clear();
        for (auto& [id, n] : nodes_) n.children.clear();
        for (const auto& id : order_) {
            Node& n = nodes_.at(id);
            const auto parent = nodes_.find(n.parent);
            if (n.parent.empty() || parent == nodes_.end()) {
                roots_.push_back(id);
            } else {
                parent->second.children.push_back(id);
            }
        }
        // Pages, then databases, then data sources; by title within each: the same tree every
        // time, whatever order search answered in.
        const auto by_kind_and_title = [this](const std::string& a, const std::string& b) {
            const auto rank = [](const Node& n) {
                return n.object == "page" ? 0 : n.object == "database" ? 1 : 2;
            };
            const Node& x = nodes_.at(a);
            const Node& y = nodes_.at(b);
            return std::tuple(rank(x), x.title, x.id) < std::tuple(rank(y), y.title, y.id);
        };
        std::sort(roots_.begin(), roots_.end(), by_kind_and_title);
        for (auto& [id, n] : nodes_)
            std::sort(n.children.begin(), n.children.end(), by_kind_and_title);
    }

    json::object node_json(const std::string& id) {
        const Node& n = nodes_.at(id);
        json::object o{{"object", n.object}, {"id", n.id}, {"title", n.title}};
        if (n.object != "page") o["rows"] = n.rows;
        json::array children;
        for (const auto& child : n.children) children.push_back(node_json(child));
        o["children"] = std::move(children);
        return o;
    }

    std::map<std::string, Node> nodes_;
    std::vector<std::string> order_;
    std::vector<std::string> roots_;
};

asio::awaitable<json::object> collect_tree(const config::Config& config) {
    const auto executor = co_await asio::this_coro::executor;
    auto budget = std::make_shared<notion::RateBudget>(
        executor, notion::BudgetOptions{.per_minute = config.notion.budget.per_minute,
                                        .burst = config.notion.budget.burst});
    notion::ClientConfig client_config{.base_url = config.notion.base_url,
                                       .token = config.notion.token,
                                       .version = config.notion.version};
    client_config.http.ca_file = config.notion.ca_file;
    notion::NotionClient client(executor, client_config, budget);
    Tree tree;
    std::exception_ptr failure;
    try {
        notion::Pager pager = client.search_all(
            json::object{}, notion::RequestContext(notion::Priority::schema, "discover"));
        for (;;) {
            std::optional<notion::ListPage> page = co_await pager.next();
            if (!page) break;
            for (const auto& r : page->results) {
                if (r.is_object()) tree.add(r.as_object());
            }
        }
    } catch (...) {
        failure = std::current_exception();
    }
    client.shutdown();
    budget->shutdown();
    if (failure) std::rethrow_exception(failure);
    co_return tree.to_json();
}

// "page  Home  <id>", "data source  Tasks  <id>  (3 rows)".
void print_node(const json::object& n, std::ostream& out) {
    const std::string object = string_at(n, "object");
    const std::string title = string_at(n, "title");
    out << (object == "data_source" ? "data source" : object) << "  "
        << (title.empty() ? "(untitled)" : title) << "  " << string_at(n, "id");
    if (const auto rows = integer(n, "rows"); rows > 0) out << "  (" << rows << " rows)";
    out << "\n";
}

void print_children(const json::array& nodes, const std::string& prefix, std::ostream& out) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const bool last = i + 1 == nodes.size();
        out << prefix << (last ? "└─ " : "├─ ");
        print_node(nodes[i].as_object(), out);
        print_children(nodes[i].at("children").as_array(), prefix + (last ? "   " : "│  "), out);
    }
}

void print_tree(const json::array& roots, std::ostream& out) {
    for (const auto& root : roots) {
        print_node(root.as_object(), out);
        print_children(root.at("children").as_array(), "", out);
    }
}

// The running daemon's status through its control server, if it answers.
asio::awaitable<std::optional<json::object>> remote_status(config::Config config) {
    if (config.control_listen == "off") co_return std::nullopt;
    try {
        const auto executor = co_await asio::this_coro::executor;
        net::ClientOptions options;
        options.connect_timeout = std::chrono::milliseconds(1000);
        options.request_timeout = std::chrono::milliseconds(5000);
        net::HttpClient client(executor, net::Url::parse("http://" + config.control_listen),
                               options);
        net::Request request;
        request.target = "/v1/status";
        if (!config.control_auth.empty())
            request.headers.emplace_back("Authorization", "Bearer " + config.control_auth);
        net::Response response = co_await client.send(std::move(request));
        if (response.status != 200) co_return std::nullopt;
        co_return model::parse_json(response.body).as_object();
    } catch (const std::exception&) {
        co_return std::nullopt;  // not running (or not reachable): read the mirror instead
    }
}

void print_status(const json::object& status, const std::string& source) {
    std::cout << "(" << source << ")\n";
    if (const auto* auth = status.if_contains("auth"); auth && auth->is_object()) {
        if (const auto* rejected = auth->as_object().if_contains("rejected");
            rejected && rejected->is_bool() && rejected->get_bool()) {
            std::cout << "NOTION REJECTS THE TOKEN: " << string_at(auth->as_object(), "reason")
                      << "\n";
        }
    }
    for (const auto& job_value : status.at("jobs").as_array()) {
        const auto& job = job_value.as_object();
        std::cout << "sync " << string_at(job, "name");
        if (const auto last = string_at(job, "last_success"); !last.empty()) {
            std::cout << ": last poll " << last << ", lag " << integer(job, "lag_s") << " s";
        } else {
            std::cout << ": never polled successfully";
        }
        if (const auto error = string_at(job, "last_error"); !error.empty()) {
            const auto failure = string_at(job, "failure");
            std::cout << "\n  FAILING" << (failure.empty() ? "" : " (" + failure + ")")
                      << " since the attempt at " << string_at(job, "last_attempt") << ": "
                      << error;
        }
        if (const auto* forecast = job.if_contains("forecast"); forecast && forecast->is_object()) {
            // From the running daemon (the scheduler lives there).
            const auto& f = forecast->as_object();
            const auto number = [&](std::string_view key) {
                const auto* v = f.if_contains(key);
                return v && v->is_number() ? v->to_number<double>() : 0.0;
            };
            char line[160];
            std::snprintf(line, sizeof line,
                          "\n  forecast: expected staleness %.1f s, backlog %.0f requests, "
                          "converges in %.1f s",
                          number("expected_staleness_s"), number("backlog_requests"),
                          number("time_to_converge_s"));
            std::cout << line;
        }
        std::cout << "\n";
        for (const auto& sv : job.at("data_sources").as_array()) {
            const auto& s = sv.as_object();
            const auto title = string_at(s, "title");
            const auto watermark = string_at(s, "watermark");
            const auto read = string_at(s, "last_complete_read");
            std::cout << "  data source " << string_at(s, "data_source_id") << " ("
                      << (title.empty() ? "?" : title) << "): watermark "
                      << (watermark.empty() ? "none" : watermark) << ", last complete read "
                      << (read.empty() ? "never" : read) << " (Notion time), pages "
                      << integer(s, "pages");
            if (const auto* interval = s.if_contains("poll_interval_s");
                interval && interval->is_number() && interval->to_number<double>() > 0) {
                char line[96];
                std::snprintf(line, sizeof line, ", polled every %.0f s (%.1f changes/h)",
                              interval->to_number<double>(),
                              s.at("changes_per_hour").to_number<double>());
                std::cout << line;
            }
            std::cout << "\n";
        }
        for (const auto& tv : job.at("targets").as_array()) {
            const auto& t = tv.as_object();
            std::cout << "  target " << string_at(t, "target") << ": pending events "
                      << integer(t, "pending") << ", dead letters " << integer(t, "dead_letters");
            if (t.contains("cursor")) std::cout << ", cursor " << integer(t, "cursor");
            if (const auto n = integer(t, "snapshots_pending"); n > 0)
                std::cout << ", snapshot of " << n << " data sources in progress";
            if (const auto last = string_at(t, "last_delivered"); !last.empty())
                std::cout << ", last delivered " << last;
            if (const auto error = string_at(t, "last_error"); !error.empty())
                std::cout << ", last error: " << error;
            if (const auto* two_way = t.if_contains("two_way"); two_way && two_way->is_object()) {
                const auto& w = two_way->as_object();
                std::cout << "\n    two-way: " << integer(w, "pages_written")
                          << " pages written to Notion since start, open conflicts "
                          << integer(w, "conflicts_open");
                if (const auto held = integer(w, "held_writes"); held > 0) {
                    std::cout << ", " << held
                              << " edited rows held by max_write_ratio (sync-once "
                                 "--apply-held-writes)";
                }
            }
            std::cout << "\n";
        }
        std::cout << "  held deletes: " << integer(job, "held_deletes") << "\n";
        if (const auto* held = job.if_contains("held_delete_pages"); held && held->is_array()) {
            for (const auto& hv : held->as_array()) {
                const auto& h = hv.as_object();
                const auto title = string_at(h, "title");
                std::cout << "    " << string_at(h, "page_id") << "  "
                          << (title.empty() ? "(untitled)" : title) << "  (missing since "
                          << string_at(h, "detected_at") << ")\n";
            }
            if (!held->as_array().empty()) {
                std::cout << "    to delete them in the targets: notion-syncd sync-once --job "
                          << string_at(job, "name")
                          << " --apply-held-deletes; if they should not go, share them with the "
                             "connection again\n";
            }
        }
    }
    const auto& budget = status.at("budget").as_object();
    std::cout << "budget: " << integer(budget, "used_last_minute") << " of "
              << integer(budget, "per_minute") << " requests in the last minute, "
              << integer(budget, "rate_limited") << " rate-limited"
              << (budget.at("paused").as_bool() ? ", paused" : "") << "\n";
}

}  // namespace

std::string describe(const std::exception& error) {
    if (const auto* system = dynamic_cast<const boost::system::system_error*>(&error))
        return system->code().message();
    std::string text = error.what();
    // Boost appends " [system:98 at /usr/include/boost/…]" to some messages.
    if (const auto at = text.find(" [system:"); at != std::string::npos) text.resize(at);
    if (const auto at = text.find(" [generic:"); at != std::string::npos) text.resize(at);
    return text;
}

int discover(const config::Config& config, bool as_json) {
    asio::io_context io;
    const json::object tree = run_task(io, collect_tree(config));
    if (as_json) {
        std::cout << model::to_json_text(tree) << "\n";
        return exit_codes::ok;
    }
    const auto& objects = tree.at("objects").as_array();
    if (objects.empty()) {
        std::cout << "The connection sees nothing yet. In Notion, open the page or database to "
                     "sync, choose\n"
                     "••• → Connections → Add connections, and pick this connection; sharing a "
                     "page shares\n"
                     "everything under it. New content can take a minute to appear in search.\n";
        return exit_codes::ok;
    }
    print_tree(objects, std::cout);
    std::cout << integer(tree, "pages") << " pages, " << integer(tree, "data_sources")
              << " data sources visible to the connection. Sync one with `source:` and its key: "
                 "`page: ID` (a page and the pages under it), `database: ID` (every data source "
                 "of a database) or `data_source: ID`.\n";
    return exit_codes::ok;
}

int status(const config::Config& config, const connectors::Registry& registry, bool as_json) {
    asio::io_context io;
    std::optional<json::object> remote = run_task(io, remote_status(config));
    std::string source = "from the running daemon at " + config.control_listen;
    json::object out;
    if (remote) {
        out = std::move(*remote);
    } else {
        const auto mirror_file = std::filesystem::path(config.state_dir) / "mirror.sqlite3";
        if (!std::filesystem::exists(mirror_file)) {
            if (as_json) {
                std::cout << model::to_json_text(
                                 json::object{{"source", "none"}, {"jobs", json::array{}}})
                          << "\n";
            } else {
                std::cout << "nothing synced yet: no daemon answers at " << config.control_listen
                          << " and there is no mirror at " << mirror_file.string() << "\n";
            }
            return exit_codes::ok;
        }
        io.restart();
        sync::Daemon daemon(io.get_executor(), config, registry);
        out = http::render_status(daemon.snapshot());
        source = "from the mirror; the daemon is not running";
    }
    if (as_json) {
        out["source"] = remote ? "daemon" : "mirror";
        std::cout << model::to_json_text(out) << "\n";
    } else {
        print_status(out, source);
    }
    return exit_codes::ok;
}

int dead_letters(mirror::Mirror& mirror, const std::string& action, const std::string& target,
                 std::optional<std::int64_t> id, bool all) {
    if (action == "drop" && !id && target.empty() && !all) {
        std::cerr << "dead-letters drop deletes events for good: name them with --id N or "
                     "--target SYNC/CONNECTOR, or give --all to drop every dead letter\n";
        return exit_codes::usage;
    }
    auto letters = mirror.dead_letters(target);
    if (id) {
        std::erase_if(letters, [&](const mirror::DeadLetter& d) { return d.id != *id; });
        if (letters.empty()) {
            std::cerr << "no dead letter with id " << *id
                      << (target.empty() ? "" : " for target " + target) << '\n';
            return exit_codes::usage;
        }
    }
    if (action == "list") {
        for (const auto& d : letters) {
            const auto event = mirror.dead_letter_event(d.id);
            std::cout << d.id << "  " << d.target << "  seq " << d.seq << "  "
                      << (event ? event->kind + " " + event->page_id : std::string("?")) << "  "
                      << d.failed_at << "\n    " << d.error << "\n";
        }
        std::cout << letters.size() << " dead letters\n";
        return exit_codes::ok;
    }
    // Oldest first, so events of one page go out again in their order.
    std::sort(letters.begin(), letters.end(),
              [](const auto& a, const auto& b) { return a.seq < b.seq; });
    for (const auto& d : letters) {
        if (action == "retry") {
            mirror.mark_retry(d.id);
            std::cout << "dead letter " << d.id << " queued again for " << d.target
                      << " only (with the page's current values)\n";
        } else {
            mirror.drop_dead_letter(d.id);
            std::cout << "dead letter " << d.id << " dropped\n";
        }
    }
    if (action == "retry" && !letters.empty())
        std::cout << "the next `run` or `sync-once` delivers them\n";
    return exit_codes::ok;
}

int conflicts(mirror::Mirror& mirror, bool all, bool as_json) {
    const auto list = mirror.conflicts(all);
    if (as_json) {
        json::array out;
        for (const auto& c : list) {
            out.push_back(c.to_json());
        }
        std::cout << model::to_json_text(out) << "\n";
        return exit_codes::ok;
    }
    for (const auto& c : list) {
        std::cout << c.id << "  " << c.target << "  page " << c.page_id << "  `" << c.property
                  << "`  " << (c.decision == "open" ? "OPEN" : c.decision + " won") << " ("
                  << c.policy << ", " << c.detected_at
                  << ")\n    Notion: " << model::to_json_text(c.notion)
                  << "\n    target: " << model::to_json_text(c.external)
                  << "\n    before: " << model::to_json_text(c.base) << "\n";
    }
    std::cout << list.size() << (all ? " conflicts\n" : " open conflicts\n");
    return exit_codes::ok;
}

int conflict(mirror::Mirror& mirror, const std::string& action, std::optional<std::int64_t> id,
             const std::string& take, const std::string& value) {
    if (!id) {
        std::cerr << "conflicts " << action
                  << " needs the conflict's id (conflicts list shows them)\n";
        return exit_codes::usage;
    }
    const auto all = mirror.conflicts(true);
    const auto it = std::find_if(all.begin(), all.end(),
                                 [&](const mirror::Conflict& c) { return c.id == *id; });
    if (it == all.end()) {
        std::cerr << "no conflict with id " << *id << "\n";
        return exit_codes::usage;
    }
    if (action == "show") {
        std::cout << model::to_json_text(it->to_json()) << "\n";
        return exit_codes::ok;
    }
    if (take.empty() || (take == "value") == value.empty()) {
        std::cerr << "conflicts resolve " << *id
                  << " needs --take notion, --take external, or --take value --value JSON\n";
        return exit_codes::usage;
    }
    json::value chosen = nullptr;
    if (take == "value") {
        boost::system::error_code error;
        chosen = model::parse_json(value, error);
        if (error) {
            std::cerr << "--value must be JSON (a number, \"text\", [\"a\", \"b\"], …): " << value
                      << "\n";
            return exit_codes::usage;
        }
    }
    if (!mirror.resolve_conflict(*id, take, chosen)) {
        std::cerr << "conflict " << *id << " is not open (decided: " << it->decision << ")\n";
        return exit_codes::usage;
    }
    std::cout << "conflict " << *id << " resolved (" << take
              << "); the next cycle of its target carries it out\n";
    return exit_codes::ok;
}

int print_plan(const json::array& actions, bool as_json) {
    if (as_json) {
        std::cout << model::to_json_text(actions) << "\n";
        return exit_codes::ok;
    }
    std::size_t to_notion = 0;
    for (const auto& a : actions) {
        const auto& o = a.as_object();
        const bool notion = string_at(o, "direction") == "to_notion";
        to_notion += notion ? 1 : 0;
        std::cout << (notion ? string_at(o, "target") + " -> Notion"
                             : "Notion -> " + string_at(o, "target"))
                  << "  " << string_at(o, "kind") << "  " << string_at(o, "page_id");
        for (const auto& [name, change] : o.at("properties").as_object()) {
            std::cout << "\n    " << name << ": " << model::to_json_text(change);
        }
        std::cout << "\n    " << string_at(o, "decision") << "\n";
    }
    std::cout << actions.size() << " actions (" << to_notion << " to Notion, "
              << actions.size() - to_notion << " to targets); nothing was done\n";
    return exit_codes::ok;
}

int history(mirror::Mirror& mirror, const std::string& page_id) {
    const auto entries = mirror.history(page_id);
    for (const auto& e : entries) {
        std::cout << e.at << "  " << e.target << "  " << e.action << "  "
                  << model::to_json_text(e.detail) << "\n";
    }
    std::cout << entries.size() << " entries for page " << page_id << "\n";
    return exit_codes::ok;
}

int check_online(const config::Config& config, const connectors::Registry& registry) {
    // A scratch state directory: checking writes schemas and resolutions nobody needs later,
    // and must not touch a running daemon's mirror.
    std::string scratch =
        (std::filesystem::temp_directory_path() / "notion-syncd-check.XXXXXX").string();
    if (::mkdtemp(scratch.data()) == nullptr) {
        std::cerr << "cannot create a scratch directory under "
                  << std::filesystem::temp_directory_path().string() << "\n";
        return exit_codes::internal;
    }
    config::Config copy = config;
    copy.state_dir = scratch;
    int code = exit_codes::ok;
    sync::FailureKind worst = sync::FailureKind::none;
    {
        asio::io_context io;
        sync::Daemon daemon(io.get_executor(), copy, registry);
        const auto results = run_task(io, daemon.check_online());
        for (const auto& [job, failure] : results) {
            if (failure.kind == sync::FailureKind::none) {
                std::cout << "sync " << job << ": OK (source shared, property names known)\n";
            } else {
                std::cout << "sync " << job << ": " << failure.message << "\n";
                worst = sync::worse(worst, failure.kind);
            }
        }
    }
    std::error_code ignored;
    std::filesystem::remove_all(scratch, ignored);
    if (worst != sync::FailureKind::none) code = sync::exit_code(worst);
    return code;
}

}  // namespace syncd::cli
