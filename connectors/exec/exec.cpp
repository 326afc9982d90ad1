#include "connectors/exec/exec.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
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
        : settings_(std::move(settings)), name_(context.name) {
        spec_ = ProgramSpec{.argv = settings_.command,
                            .environment = program_environment(name_, settings_.env),
                            .cwd = settings_.cwd,
                            .log_name = name_};
    }

    // Starting here makes a program that cannot start a failed start(): the daemon keeps the
    // events pending instead of spending delivery attempts on them.
    asio::awaitable<void> start() override { co_await launch(); }

    asio::awaitable<void> deliver(ChangeBatch batch) override {
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
        const std::int64_t id = ++next_id_;
        const auto deadline = Clock::now() + settings_.ack_timeout;
        auto left = [&] {
            return std::max(milliseconds(1),
                            std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
        };
        std::string failure;  // the program must be restarted
        std::optional<Reply> nack;
        try {
            std::string schemas = model::to_json_text(schemas_json(batch.schemas));
            if (!hello_sent_) {
                co_await program_->write(hello_line(name_, batch), left());
                hello_sent_ = true;
                schemas_sent_ = schemas;
            }
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
                const auto reply = read_reply(*line, id);
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
        // The program's state is unknown now; the next delivery starts a fresh one.
        auto program = std::move(program_);
        const auto how = co_await program->finish(grace);
        note_failure();
        spdlog::warn("connector={} pid={} {}: {}; restarting it in {} ms", name_, program->pid(),
                     how, failure, restart_delay(failures_).count());
        throw DeliveryError("exec: " + failure + " (the program " + how + ")", true);
    }

private:
    // An answer to batch `id`, or nullopt for a line to skip (logged).
    std::optional<Reply> read_reply(const std::string& line, std::int64_t id) {
        Reply reply;
        try {
            reply = parse_reply(line);
        } catch (const ProtocolError& e) {
            spdlog::warn("connector={} ignored a line that is not a protocol message ({}): {}",
                         name_, e.what(), excerpt(line));
            return std::nullopt;
        }
        switch (reply.type) {
            case Reply::Type::ack:
            case Reply::Type::nack:
                if (reply.id == id) return reply;
                spdlog::warn("connector={} ignored an {} for batch {} while waiting for batch {}",
                             name_, reply.type_name, reply.id, id);
                return std::nullopt;
            case Reply::Type::changes:
            case Reply::Type::other:
                if (warned_types_.insert(reply.type_name).second) {
                    spdlog::warn(
                        "connector={} ignores `{}` messages (protocol {}{})", name_,
                        reply.type_name, protocol_version,
                        reply.type == Reply::Type::changes ? ": reserved for two-way sync" : "");
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
    ProgramSpec spec_;
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
    const std::string& connector, const std::vector<std::pair<std::string, std::string>>& env) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const char* name :
         {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME"}) {
        if (const char* value = std::getenv(name)) out.emplace_back(name, value);
    }
    out.emplace_back("NOTION_SYNCD_PROTOCOL", std::to_string(protocol_version));
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
