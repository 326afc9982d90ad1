#include "connectors/exec/exec.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <map>
#include <set>

#include "connectors/exec/program.hpp"
#include "connectors/exec/protocol.hpp"
#include "daemon/model/json_text.hpp"

namespace syncd::connectors::exec {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds grace{2'000};  // for a program to exit after stdin closes, and after SIGTERM

std::string excerpt(std::string_view line) {
    constexpr std::size_t limit = 200;
    return std::string(line.substr(0, limit)) + (line.size() > limit ? "…" : "");
}

class ExecConnector final : public Connector {
public:
    ExecConnector(Settings settings, const ConnectorContext& context)
        : settings_(std::move(settings)),
          name_(context.name),
          sync_(context.target.sync),
          two_way_(context.target.two_way),
          protocol_(two_way_ ? two_way_protocol_version : protocol_version),
          inbox_(name_) {
        spec_ = ProgramSpec{.argv = settings_.command,
                            .environment = program_environment(name_, settings_.env, protocol_),
                            .cwd = settings_.cwd,
                            .log_name = name_};
    }

    asio::awaitable<void> apply_schema(ChangeBatch batch) override {
        schemas_ = batch.schemas;
        inbox_.set_schemas(schemas_);
        co_return;
    }

    // Version 2: the program's changes since the last collect, with those not decided yet.
    asio::awaitable<std::vector<ExternalRow>> external_changes() override {
        std::vector<ExternalRow> out;
        if (!two_way_) co_return out;
        std::string request = collect_line(++next_id_);
        co_await ask(std::move(request), Reply::Type::changes);
        co_return inbox_.rows();
    }

    // The results of the changes decided, one `result` line each.
    asio::awaitable<void> acknowledge(std::vector<ExternalRow> rows) override {
        inbox_.decided(rows);
        co_await send_results();
    }

    // verify_every: the program's whole state, asked in `snapshot` messages.
    asio::awaitable<std::vector<ExternalRow>> all_rows() override {
        if (!two_way_) co_return std::vector<ExternalRow>{};
        snapshot_.clear();
        std::string request = snapshot_line(++next_id_);
        co_await ask(std::move(request), Reply::Type::snapshot);
        co_return std::move(snapshot_);
    }

    // The page id reaches the program in the change's result.
    asio::awaitable<void> assign_page_id(ExternalRow row, std::string page_id) override {
        (void)row;
        (void)page_id;
        co_return;
    }

    // Starting here makes a program that cannot start a failed start(): the daemon keeps the
    // events pending instead of spending delivery attempts on them.
    asio::awaitable<void> start() override { co_await launch(); }

    asio::awaitable<void> deliver(ChangeBatch batch) override {
        schemas_ = batch.schemas;
        inbox_.set_schemas(schemas_);
        co_await ensure_running();
        const std::int64_t id = ++next_id_;
        const auto deadline = Clock::now() + settings_.ack_timeout;
        auto left = [&] {
            return std::max(milliseconds(1),
                            std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
        };
        std::string failure;  // the program must be restarted
        std::optional<Reply> nack;
        try {
            co_await send_hello(batch, left());
            std::string schemas = model::to_json_text(schemas_json(batch.schemas));
            const bool with_schemas = schemas != schemas_sent_;
            co_await program_->write(batch_line(id, batch, with_schemas), left());
            schemas_sent_ = std::move(schemas);
            for (;;) {
                const auto line = co_await program_->read_line(left());
                if (!line) {
                    failure = "the program closed its output before answering batch " +
                              std::to_string(id);
                    break;
                }
                const auto reply = read_reply(*line, id, Reply::Type::ack);
                if (!reply) continue;
                if (reply->type == Reply::Type::ack) {
                    failures_ = 0;
                    co_return;
                }
                nack = *reply;
                break;
            }
        } catch (const ProgramTimeout& e) {
            failure = e.what();
        } catch (const std::runtime_error& e) {  // also a cancelled read or write
            failure = e.what();
        }
        if (nack) {
            throw DeliveryError("exec: the program refused batch " + std::to_string(id) + ": " +
                                    (nack->error.empty() ? "(no error given)" : nack->error),
                                nack->retryable);
        }
        co_await restart_after(failure);
    }

private:
    asio::awaitable<void> ensure_running() {
        if (program_ && program_->has_exited()) {
            // It died while idle: nothing was lost, so start the next one without failing this
            // delivery (still backing off, so a program that keeps dying is not run in a loop).
            auto program = std::move(program_);
            const auto how = co_await program->finish(grace);
            note_failure();
            spdlog::warn("connector={} pid={} {} while idle; restarting it in {} ms", name_,
                         program->pid(), how, restart_delay(failures_).count());
        }
        if (!program_) co_await launch();
    }

    // The program's state is unknown: the next delivery or collect starts a fresh one.
    asio::awaitable<void> restart_after(const std::string& failure) {
        auto program = std::move(program_);
        const auto how = co_await program->finish(grace);
        note_failure();
        spdlog::warn("connector={} pid={} {}: {}; restarting it in {} ms", name_, program->pid(),
                     how, failure, restart_delay(failures_).count());
        throw DeliveryError("exec: " + failure + " (the program " + how + ")", true);
    }

    asio::awaitable<void> send_hello(const ChangeBatch& batch, milliseconds timeout) {
        if (hello_sent_) co_return;
        co_await program_->write(hello_line(name_, batch, protocol_), timeout);
        hello_sent_ = true;
        schemas_sent_ = model::to_json_text(schemas_json(batch.schemas));
    }

    // Writes `request` (collect or snapshot) and reads until the answer of type `answer` with
    // its id (for a snapshot: the last one, "more": false). Changes read meanwhile are taken.
    asio::awaitable<void> ask(std::string request, Reply::Type answer) {
        co_await ensure_running();
        const std::int64_t id = next_id_;
        const auto deadline = Clock::now() + settings_.ack_timeout;
        auto left = [&] {
            return std::max(milliseconds(1),
                            std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
        };
        std::string failure;
        try {
            ChangeBatch hello{.target = sync_ + "/" + name_, .sync = sync_, .schemas = schemas_};
            co_await send_hello(hello, left());
            co_await write_results(left());
            co_await program_->write(request, left());
            for (;;) {
                const auto line = co_await program_->read_line(left());
                if (!line) {
                    failure =
                        "the program closed its output before answering " +
                        std::string(answer == Reply::Type::changes ? "collect " : "snapshot ") +
                        std::to_string(id);
                    break;
                }
                const auto reply = read_reply(*line, id, answer);
                if (!reply) continue;
                if (reply->type == Reply::Type::snapshot) {
                    take_snapshot(*reply);
                    if (reply->more) continue;
                }
                co_return;
            }
        } catch (const ProgramTimeout& e) {
            failure = e.what();
        } catch (const std::runtime_error& e) {
            failure = e.what();
        }
        co_await restart_after(failure);
    }

    asio::awaitable<void> send_results() {
        if (!program_ || program_->has_exited()) co_return;
        try {
            co_await write_results(settings_.ack_timeout);
        } catch (const std::runtime_error& e) {
            // It restarts at the next collect; changes it has no result for, it sends again.
            spdlog::warn("connector={} could not send results: {}", name_, e.what());
        }
    }

    asio::awaitable<void> write_results(milliseconds timeout) {
        std::string lines;
        for (const auto& result : inbox_.take_results()) lines += result_line(result);
        if (!lines.empty()) co_await program_->write(lines, timeout);
    }

    void take_changes(const Reply& reply) {
        for (const auto& [index, why] : inbox_.take(reply.id, reply.changes)) {
            spdlog::warn("connector={} change {} of message {} rejected: {}", name_, index,
                         reply.id, why);
        }
    }

    void take_snapshot(const Reply& reply) {
        for (const auto& change : reply.changes) {
            ExternalRow row;
            const std::string why =
                change.error.empty() ? inbox_.row_of(change, row) : change.error;
            if (!why.empty()) {
                spdlog::warn("connector={} snapshot row {} of message {} left out: {}", name_,
                             change.index, reply.id, why);
                continue;
            }
            snapshot_.push_back(std::move(row));
        }
    }

private:
    // An answer to batch `id`, or nullopt for a line to skip (logged).
    std::optional<Reply> read_reply(const std::string& line, std::int64_t id,
                                    Reply::Type expected) {
        Reply reply;
        try {
            reply = parse_reply(line);
        } catch (const ProtocolError& e) {
            spdlog::warn("connector={} ignored a line that is not a protocol message ({}): {}",
                         name_, e.what(), excerpt(line));
            return std::nullopt;
        }
        if (two_way_ && reply.type == Reply::Type::changes) {
            take_changes(reply);
            if (expected == Reply::Type::changes && reply.id == id) return reply;
            return std::nullopt;
        }
        if (two_way_ && reply.type == Reply::Type::snapshot) {
            if (expected == Reply::Type::snapshot && reply.id == id) return reply;
            spdlog::warn("connector={} ignored a snapshot for {} while waiting for {}", name_,
                         reply.id, id);
            return std::nullopt;
        }
        switch (reply.type) {
            case Reply::Type::ack:
            case Reply::Type::nack:
                if (expected == Reply::Type::ack && reply.id == id) return reply;
                spdlog::warn("connector={} ignored an {} for {} while waiting for {}", name_,
                             reply.type_name, reply.id, id);
                return std::nullopt;
            case Reply::Type::changes:
            case Reply::Type::snapshot:
            case Reply::Type::other:
                if (warned_types_.insert(reply.type_name).second) {
                    spdlog::warn("connector={} ignores `{}` messages (protocol {}{})", name_,
                                 reply.type_name, protocol_,
                                 reply.type == Reply::Type::changes
                                     ? ": changes are read from a target with two_way: (protocol 2)"
                                     : "");
                }
                return std::nullopt;
        }
        return std::nullopt;
    }

    asio::awaitable<void> launch() {
        if (failures_ > 0) {
            const auto at = failed_at_ + restart_delay(failures_);
            if (at > Clock::now()) {
                asio::steady_timer timer(co_await asio::this_coro::executor);
                timer.expires_at(at);
                co_await timer.async_wait(asio::use_awaitable);
            }
        }
        std::string error;
        try {
            program_ = co_await Program::start(spec_);
            hello_sent_ = false;
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        if (!error.empty()) {
            note_failure();
            throw DeliveryError("exec: " + error, true);
        }
    }

    void note_failure() {
        ++failures_;
        failed_at_ = Clock::now();
    }

    Settings settings_;
    std::string name_;
    std::string sync_;
    bool two_way_ = false;
    int protocol_ = protocol_version;
    ProgramSpec spec_;
    std::map<std::string, model::Schema> schemas_;  // the sync's, from the last batch
    ChangeInbox inbox_;                             // changes not decided yet
    std::vector<ExternalRow> snapshot_;
    std::shared_ptr<Program> program_;
    bool hello_sent_ = false;
    std::string schemas_sent_;
    std::int64_t next_id_ = 0;
    int failures_ = 0;  // in a row, reset by an ack
    Clock::time_point failed_at_{};
    std::set<std::string> warned_types_;
};

bool is_variable_name(const std::string& name) {
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
}

}  // namespace

std::chrono::milliseconds restart_delay(int failures) {
    if (failures <= 0) return milliseconds(0);
    const int doublings = std::min(failures - 1, 6);
    return std::min(milliseconds(500) * (1 << doublings), milliseconds(30'000));
}

std::vector<std::pair<std::string, std::string>> program_environment(
    const std::string& connector, const std::vector<std::pair<std::string, std::string>>& env,
    int protocol) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const char* name :
         {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME"}) {
        if (const char* value = std::getenv(name)) out.emplace_back(name, value);
    }
    out.emplace_back("NOTION_SYNCD_PROTOCOL", std::to_string(protocol));
    out.emplace_back("NOTION_SYNCD_CONNECTOR", connector);
    for (const auto& [name, value] : env) {
        const auto same =
            std::find_if(out.begin(), out.end(), [&](const auto& kv) { return kv.first == name; });
        if (same != out.end()) {
            same->second = value;
        } else {
            out.emplace_back(name, value);
        }
    }
    return out;
}

Settings parse_settings(config::SettingsReader& read) {
    Settings s;
    const auto command = read.strings("command");
    if (!read.has("command")) {
        read.problem("missing required key `command` (the program and its arguments, as a list)");
    } else if (command && command->empty()) {
        read.problem("expected the program and its arguments", "command");
    }
    if (command) s.command = *command;
    for (const auto& [name, value] : read.string_map("env")) {
        if (!is_variable_name(name)) {
            read.problem("`" + name + "` is not an environment variable name", "env");
            continue;
        }
        std::string missing;
        std::string expanded = config::expand_environment(value, missing);
        if (!missing.empty()) {
            read.problem("env." + name + ": environment variable " + missing + " is not set",
                         "env");
            continue;
        }
        s.env.emplace_back(name, std::move(expanded));
    }
    s.cwd = read.string_or("cwd", "");
    s.ack_timeout = read.duration_or("ack_timeout", s.ack_timeout);
    if (s.ack_timeout < milliseconds(100)) read.problem("expected at least 100ms", "ack_timeout");
    if (read.checks_environment() && !s.command.empty()) {
        const ProgramSpec spec{
            .argv = s.command, .environment = program_environment({}, s.env), .cwd = s.cwd};
        if (const auto problem = start_problem(spec)) read.problem(*problem, "command");
    }
    return s;
}

void validate(config::SettingsReader& read) { parse_settings(read); }

std::unique_ptr<Connector> make_connector(config::SettingsReader& read,
                                          const ConnectorContext& context) {
    return std::make_unique<ExecConnector>(parse_settings(read), context);
}

}  // namespace syncd::connectors::exec
