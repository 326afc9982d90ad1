#include "daemon/sync/daemon.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "daemon/model/log.hpp"

namespace syncd::sync {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

Daemon::Daemon(asio::any_io_executor executor, config::Config config,
               const connectors::Registry& registry)
    : executor_(std::move(executor)), config_(std::move(config)) {
    std::filesystem::create_directories(config_.state_dir);
    mirror_ = std::make_unique<mirror::Mirror>(
        (std::filesystem::path(config_.state_dir) / "mirror.sqlite3").string());
    budget_ = std::make_shared<notion::RateBudget>(
        executor_, notion::BudgetOptions{.per_minute = config_.notion.budget.per_minute,
                                         .burst = config_.notion.budget.burst});
    notion::ClientConfig client_config{.base_url = config_.notion.base_url,
                                       .token = config_.notion.token,
                                       .version = config_.notion.version};
    client_config.http.ca_file = config_.notion.ca_file;
    client_config.retry.max_rate_limit_wait = config_.notion.max_rate_limit_wait;
    client_ = std::make_unique<notion::NotionClient>(executor_, client_config, budget_);
    scheduler_ = std::make_unique<PollScheduler>(
        config_.notion.budget.per_minute / 60.0 * polling_share, std::random_device{}());
    for (const auto& sync : config_.syncs) {
        pollers_.push_back(std::make_unique<Poller>(sync, *client_, *mirror_, ledger_));
        // Every job subscribed to the data sources a poll changed has new events: wake them all.
        runners_.push_back(std::make_unique<JobRunner>(
            *pollers_.back(), sync,
            [this] {
                for (auto& d : dispatchers_) d->wake();
            },
            auth_, *mirror_, config_.notion.token_source, *scheduler_));
        for (const auto& target : sync.targets) {
            const auto connector = std::find_if(
                config_.connectors.begin(), config_.connectors.end(),
                [&](const config::ConnectorSettings& c) { return c.name == target.connector; });
            auto problems = std::make_shared<config::Problems>();
            problems->file = config_.path;
            config::SettingsReader reader(connector->node, "connectors." + connector->name,
                                          problems);
            reader.string_or("type", "");
            connectors::ConnectorContext context{
                .name = connector->name,
                .executor = executor_,
                .target = {.sync = sync.name,
                           .table = target.table,
                           .mapping = target.mapping,
                           .soft_delete = target.soft_delete,
                           .unmapped = target.unmapped,
                           .two_way = target.two_way.has_value(),
                           .two_way_body = target.two_way && target.two_way->body}};
            auto instance = registry.create(connector->type, reader, context);
            reader.finish();
            problems->throw_if_any();
            DispatchOptions options;
            options.include = target.include;
            options.exclude = target.exclude;
            options.snapshot = target.snapshot;
            options.content = sync.content;
            options.two_way = target.two_way.has_value();
            if (target.unmapped == "skip") {
                for (const auto& [property, column] : target.mapping)
                    options.only.push_back(property);
            }
            connectors::Connector& raw = *instance;
            dispatchers_.push_back(std::make_unique<Dispatcher>(sync.name + "/" + connector->name,
                                                                sync.name, std::move(instance),
                                                                *mirror_, options));
            if (target.two_way) {
                write_backs_.push_back(std::make_unique<WriteBack>(
                    dispatchers_.back()->target(), sync, *target.two_way, raw, *client_,
                    *pollers_.back(), *mirror_));
                const std::size_t job = pollers_.size() - 1;
                const std::size_t dispatcher = dispatchers_.size() - 1;
                write_backs_.back()->set_freshness(
                    [this, job] { return polled_at(job); },
                    [this, job, dispatcher] { request_poll(job, dispatcher); });
                dispatchers_.back()->set_write_back(write_backs_.back().get(), false);
                dispatchers_.back()->set_on_new_events([this] {
                    for (auto& d : dispatchers_) d->wake();
                });
                two_way_every_.push_back(target.two_way->every.value_or(sync.every));
            } else {
                two_way_every_.push_back(std::chrono::milliseconds(0));
            }
        }
    }
    awaiting_poll_.resize(dispatchers_.size());
    // The console's history survives a restart: the last 24 h from the mirror.
    if (const char* step = std::getenv("NOTION_SYNCD_HISTORY_STEP_MS")) {
        history_step_ = std::chrono::milliseconds(std::max(100L, std::atol(step)));  // tests only
    }
    const auto now = std::chrono::system_clock::now();
    for (auto& sample : mirror_->history(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             now.time_since_epoch() - std::chrono::hours(24))
                                             .count())) {
        history_.push_back(std::move(sample));
    }
}

std::chrono::system_clock::time_point Daemon::polled_at(std::size_t job) {
    // Only polls of this process count: what an earlier one read may be long out of date. Not
    // "the last attempt, when no poll is in flight": with Notion busy and the gate asking for
    // polls, one always is, and edits waited for ever (the crash loop found it).
    return runners_[job]->state().fresh_since;
}

void Daemon::request_poll(std::size_t job, std::size_t dispatcher) {
    runners_[job]->hint();
    if (awaiting_poll_[dispatcher] || stopping_) return;
    awaiting_poll_[dispatcher] = true;
    asio::co_spawn(executor_, wake_after_poll(job, dispatcher, std::chrono::system_clock::now()),
                   asio::detached);
}

asio::awaitable<void> Daemon::wake_after_poll(std::size_t job, std::size_t dispatcher,
                                              std::chrono::system_clock::time_point asked) {
    asio::steady_timer timer(executor_);
    const auto give_up = std::chrono::steady_clock::now() + 5min;
    while (!stopping_ && polled_at(job) <= asked && std::chrono::steady_clock::now() < give_up) {
        timer.expires_after(100ms);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    awaiting_poll_[dispatcher] = false;
    if (!stopping_) dispatchers_[dispatcher]->wake();
}

asio::awaitable<bool> Daemon::deliver(const std::string& sync, CycleReport* report) {
    bool all = true;
    for (auto& d : dispatchers_) {
        if (d->sync() != sync) continue;
        const auto before = d->delivered();
        const auto letters_before = mirror_->dead_letter_count(d->target());
        const WriteBackStats written_before =
            d->write_back() ? d->write_back()->totals() : WriteBackStats{};
        const bool ok = co_await d->drain();
        all = all && ok;
        if (report) {
            const auto letters = mirror_->dead_letter_count(d->target());
            const auto new_letters = letters > letters_before ? letters - letters_before : 0;
            report->dead_lettered += new_letters;
            report->lines.push_back(
                "  target " + d->target() + ": " + std::to_string(d->delivered() - before) +
                " events delivered" + (ok ? "" : ", NOT caught up") +
                (new_letters ? ", " + std::to_string(new_letters) +
                                   " events moved to dead letters in this run (see "
                                   "`notion-syncd dead-letters list`)"
                             : "") +
                (letters && letters != new_letters
                     ? ", " + std::to_string(letters) + " dead letters in all"
                     : ""));
            if (d->write_back()) {
                const auto& now = d->write_back()->totals();
                std::string line =
                    "  target " + d->target() + " to Notion: " +
                    std::to_string(now.pages_written - written_before.pages_written) +
                    " pages written (" +
                    std::to_string(now.properties_written - written_before.properties_written) +
                    " properties)";
                if (const auto n = now.conflicts - written_before.conflicts)
                    line +=
                        ", " + std::to_string(n) + " conflicts (see `notion-syncd conflicts list`)";
                if (const auto n = now.reverted - written_before.reverted)
                    line += ", " + std::to_string(n) + " read-only or invalid edits reverted";
                if (const auto n = now.restored - written_before.restored)
                    line += ", " + std::to_string(n) + " deleted rows restored";
                if (const auto n = now.trashed - written_before.trashed)
                    line += ", " + std::to_string(n) + " pages moved to the trash";
                if (const auto n = now.created - written_before.created)
                    line += ", " + std::to_string(n) + " new rows created as pages";
                if (const auto n = now.not_created - written_before.not_created)
                    line += ", " + std::to_string(n) + " new rows without a page (create is off)";
                if (const auto n = now.create_waiting - written_before.create_waiting)
                    line += ", " + std::to_string(n) +
                            " new rows waiting for an earlier create to show (never created twice)";
                if (now.held) line += ", " + std::to_string(now.held) + " edited rows held";
                if (now.verifications != written_before.verifications) {
                    line += ", verify: " +
                            std::to_string(now.verified_rows - written_before.verified_rows) +
                            " rows compared, " +
                            std::to_string(now.verify_differed - written_before.verify_differed) +
                            " differed without a capture, " +
                            std::to_string(now.verify_gone - written_before.verify_gone) +
                            " rows gone";
                }
                report->lines.push_back(std::move(line));
            }
        }
    }
    collect_garbage();
    co_return all;
}

asio::awaitable<CycleReport> Daemon::sync_once(std::optional<std::string> job, bool reconcile) {
    CycleReport report;
    // Edits still settling in two-way targets are waited for and written in this run.
    for (auto& d : dispatchers_) {
        if (d->write_back()) d->set_write_back(d->write_back(), true);
    }
    bool matched = false;
    // A data source read by an earlier job of this cycle is not read again by a later one.
    const auto cycle_start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < pollers_.size(); ++i) {
        auto& poller = pollers_[i];
        if (job && poller->name() != *job) continue;
        matched = true;
        const auto start = std::chrono::steady_clock::now();
        PollStats stats;
        Failure failure;
        if (auth_.is_rejected()) {
            // An earlier job of this cycle met a rejected token: the others would too.
            failure = {FailureKind::auth_rejected, auth_.reason()};
        } else {
            try {
                stats = co_await poller->poll_once(reconcile, cycle_start);
            } catch (const std::exception& e) {
                failure = classify(e, config_.notion.token_source);
            }
            runners_[i]->attempted(failure);  // kept in the mirror for `status`
        }
        if (failure.kind != FailureKind::none) {
            // One job failing does not stop the others; what it committed stays committed and is
            // delivered.
            log::error({{"job", poller->name()}, {"failure", std::string(to_string(failure.kind))}},
                       "sync={} poll failed: {}", poller->name(), failure.message);
            report.lines.push_back("sync " + poller->name() + ": FAILED: " + failure.message);
            report.caught_up = false;
            report.failure = worse(report.failure, failure.kind);
            const bool delivered = co_await deliver(poller->name(), &report);
            report.caught_up = report.caught_up && delivered;
            continue;
        }
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
        report.lines.push_back(
            "sync " + poller->name() + ": " + std::to_string(stats.data_sources) +
            " data sources, " + std::to_string(stats.pages_read) + " pages read, " +
            std::to_string(stats.events) + " changes" + (stats.reconciled ? ", reconciled" : "") +
            (stats.refreshed ? ", values refreshed" : "") +
            (stats.held_deletes ? ", held deletes: " + std::to_string(stats.held_deletes) : "") +
            " (" + std::to_string(ms.count()) + " ms)");
        log::info({{"job", poller->name()},
                   {"data_sources", stats.data_sources},
                   {"pages_read", stats.pages_read},
                   {"events", stats.events},
                   {"duration_ms", ms.count()}},
                  "sync={} {} changes from {} pages read", poller->name(), stats.events,
                  stats.pages_read);
        if (stats.held_deletes) {
            spdlog::warn("sync={} held deletes: {} (see `notion-syncd status`)", poller->name(),
                         stats.held_deletes);
        }
        const bool delivered = co_await deliver(poller->name(), &report);
        report.caught_up = report.caught_up && delivered;
    }
    if (job && !matched) throw UnknownJob("no sync job named `" + *job + "` in " + config_.path);
    co_return report;
}

asio::awaitable<void> Daemon::run() {
    auto track = [this](asio::awaitable<void> task) -> asio::awaitable<void> {
        ++running_;
        try {
            co_await std::move(task);
        } catch (const std::exception& e) {
            spdlog::error("internal error: {}", e.what());
        }
        --running_;
    };
    for (auto& runner : runners_) asio::co_spawn(executor_, track(runner->run()), asio::detached);
    for (auto& d : dispatchers_) asio::co_spawn(executor_, track(d->run()), asio::detached);
    // Two-way targets write back every two_way.every, changes in Notion or not.
    for (std::size_t i = 0; i < dispatchers_.size(); ++i) {
        if (two_way_every_[i] == std::chrono::milliseconds(0)) continue;
        asio::co_spawn(executor_, track(write_back_ticks(i)), asio::detached);
    }
    asio::steady_timer wait(executor_);
    sample_history();  // the counters' starting point
    do {
        wait.expires_after(100ms);
        co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
        if (!stopping_) {
            collect_garbage();
            sample_history();
        }
    } while (!stopping_ || running_ > 0);
    collect_garbage();
    client_->shutdown();
    budget_->shutdown();
}

asio::awaitable<json::array> Daemon::plan(std::optional<std::string> job, bool live) {
    json::array actions;
    const auto cycle_start = std::chrono::steady_clock::now();
    for (auto& poller : pollers_) {
        if (live || (job && poller->name() != *job)) continue;
        co_await poller->poll_once(false, cycle_start);
    }
    for (auto& d : dispatchers_) {
        if (job && d->sync() != *job) continue;
        // Notion -> target: what is in the outbox past the target's cursor.
        const auto cursor = mirror_->cursor(d->target());
        for (const auto& event : mirror_->events_after(d->sync(), cursor, 100'000)) {
            json::object properties;
            for (const auto& name : event.changed) {
                if (!name.is_string()) continue;
                const auto* value = event.properties.if_contains(name.as_string());
                properties[name.as_string()] = {{"to", value ? *value : json::value(nullptr)}};
            }
            actions.push_back(json::object{{"direction", "to_target"},
                                           {"sync", d->sync()},
                                           {"target", d->target()},
                                           {"page_id", event.page_id},
                                           {"kind", event.kind},
                                           {"properties", std::move(properties)},
                                           {"decision", "deliver"}});
        }
        // Target -> Notion: the captured edits of a two-way target, merged but not written.
        WriteBack* write_back = d->write_back();
        if (write_back == nullptr || !co_await d->ensure_started()) continue;
        const std::vector<RowPlan> rows = co_await write_back->plan();  // g++ 12: not in the for
        for (const auto& row : rows) {
            auto action = [&](const std::string& kind, json::object properties,
                              const std::string& decision) {
                // A row the full comparison found (verify_every) was edited with the capture off.
                actions.push_back(json::object{
                    {"direction", "to_notion"},
                    {"sync", d->sync()},
                    {"target", d->target()},
                    {"page_id", row.page_id},
                    {"kind", kind},
                    {"properties", std::move(properties)},
                    {"decision", row.verify ? decision + " (found by verify_every)" : decision}});
            };
            if (!row.held.empty()) {
                action("held", {}, "held by " + row.held + " (sync-once --apply-held-writes)");
                continue;
            }
            if (row.create) {
                json::object values;
                for (const auto& p : row.properties) values[p.name] = {{"to", p.external}};
                action("create", std::move(values), "a new page in the data source");
                continue;
            }
            if (row.trash) {
                action("trash", {},
                       "the row was deleted in the target: the page goes to the trash");
                continue;
            }
            if (row.restore) {
                std::string why = "the row was deleted in the target: restored from Notion";
                if (write_back->trashes()) {
                    why =
                        "the row was deleted in the target after the page changed in Notion (an "
                        "edit beats a delete): restored from Notion";
                }
                action("restore", {}, why);
                continue;
            }
            json::object writes;
            for (const auto& p : row.properties) {
                if (p.action == "write" || (p.action == "conflict" && p.decision == "external"))
                    writes[p.name] = {{"from", p.notion}, {"to", p.external}};
                if (p.action == "conflict") {
                    json::object conflict;
                    conflict[p.name] = {
                        {"base", p.base}, {"notion", p.notion}, {"external", p.external}};
                    action("conflict", std::move(conflict), p.policy + ": " + p.decision);
                }
                if (p.action == "revert") {
                    json::object revert;
                    revert[p.name] = {{"from", p.external}, {"to", p.notion}};
                    action("revert", std::move(revert), p.reason);
                }
            }
            if (!writes.empty()) action("update", std::move(writes), "write");
            if (!row.body.empty()) action("body", {}, row.body);
        }
    }
    if (!live) {
        client_->shutdown();
        budget_->shutdown();
    }
    co_return actions;
}

asio::awaitable<std::vector<std::pair<std::string, Failure>>> Daemon::check_online() {
    std::vector<std::pair<std::string, Failure>> out;
    for (auto& poller : pollers_) {
        Failure failure;
        try {
            co_await poller->check();
        } catch (const std::exception& e) {
            failure = classify(e, config_.notion.token_source);
        }
        out.emplace_back(poller->name(), std::move(failure));
    }
    client_->shutdown();
    budget_->shutdown();
    co_return out;
}

void Daemon::sample_history() {
    const auto now = std::chrono::steady_clock::now();
    const bool first = sampled_at_ == std::chrono::steady_clock::time_point{};
    if (!first && now - sampled_at_ < history_step_) return;
    sampled_at_ = now;
    const Snapshot snap = snapshot();
    std::size_t requests = 0;
    for (const auto& [key, count] : snap.client.requests) requests += count;
    json::object lag;
    json::object delivered;
    json::object pending;
    std::size_t conflicts = 0;
    std::map<std::string, std::size_t> delivered_now;
    for (const auto& job : snap.jobs) {
        if (job.state.last_success != std::chrono::system_clock::time_point{}) {
            lag[job.name] = std::chrono::duration<double>(std::chrono::system_clock::now() -
                                                          job.state.last_success)
                                .count();
        }
        for (const auto& t : job.targets) {
            delivered_now[t.target] = t.delivered;
            const auto before = delivered_at_sample_.find(t.target);
            delivered[t.target] =
                t.delivered - (before == delivered_at_sample_.end() ? 0 : before->second);
            pending[t.target] = t.pending;
            conflicts += t.conflicts_open;
        }
    }
    const std::size_t request_delta = requests - std::min(requests, requests_at_sample_);
    const std::size_t limited_delta =
        snap.budget.rate_limited - std::min(snap.budget.rate_limited, rate_limited_at_sample_);
    requests_at_sample_ = requests;
    rate_limited_at_sample_ = snap.budget.rate_limited;
    delivered_at_sample_ = std::move(delivered_now);
    if (first) return;  // only the counters' starting point
    // Per minute, whatever the step (tests take shorter ones).
    const double per_minute = 60'000.0 / static_cast<double>(history_step_.count());
    const auto at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    const double t = static_cast<double>(at_ms) / 1000.0;  // Unix seconds, as charts take them
    for (auto& [target, n] : delivered) n = n.to_number<double>() * per_minute;
    json::object sample{{"t", t},
                        {"requests", static_cast<double>(request_delta) * per_minute},
                        {"rate_limited", static_cast<double>(limited_delta) * per_minute},
                        {"budget", snap.budget_per_minute},
                        {"lag", std::move(lag)},
                        {"delivered", std::move(delivered)},
                        {"pending", std::move(pending)},
                        {"conflicts_open", conflicts}};
    try {
        mirror_->add_history(at_ms, sample);
    } catch (const std::exception& e) {
        spdlog::warn("history sample not stored: {}", e.what());
    }
    history_.push_back(std::move(sample));
    while (!history_.empty() && history_.front().at("t").to_number<double>() < t - 24 * 3600)
        history_.pop_front();
}

json::array Daemon::history() const {
    json::array out;
    for (const auto& sample : history_) out.push_back(sample);
    return out;
}

bool Daemon::decide_held_delete(const std::string& job, const std::string& page_id,
                                const std::string& decision) {
    for (std::size_t i = 0; i < pollers_.size(); ++i) {
        if (pollers_[i]->name() != job) continue;
        if (!mirror_->decide_held_delete(job, page_id, decision)) return false;
        spdlog::info("sync={} page={} held delete: {} (a person's decision)", job, page_id,
                     decision == "approve" ? "approved, deleted at the next reconciliation"
                                           : "kept in the targets");
        pollers_[i]->request_reconcile();
        runners_[i]->hint();
        return true;
    }
    return false;
}

bool Daemon::retry_dead_letter(std::int64_t id) {
    for (const auto& dead : mirror_->dead_letters()) {
        if (dead.id != id) continue;
        mirror_->mark_retry(id);
        for (auto& d : dispatchers_) {
            if (d->target() == dead.target) d->wake();
        }
        return true;
    }
    return false;
}

void Daemon::collect_garbage() {
    const auto now = std::chrono::steady_clock::now();
    if (now - collected_at_ < 10s && !stopping_) return;
    collected_at_ = now;
    std::vector<std::string> targets;
    for (auto& d : dispatchers_) targets.push_back(d->target());
    mirror_->collect_garbage(targets);
}

asio::awaitable<void> Daemon::write_back_ticks(std::size_t dispatcher) {
    asio::steady_timer timer(executor_);
    while (!stopping_) {
        timer.expires_after(two_way_every_[dispatcher]);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (!stopping_) dispatchers_[dispatcher]->wake();
    }
}

void Daemon::release_write_brake(const std::optional<std::string>& job) {
    for (auto& w : write_backs_) {
        if (!job || w->target().starts_with(*job + "/")) w->release_write_brake();
    }
}

void Daemon::release_delete_brake(const std::optional<std::string>& job) {
    for (auto& p : pollers_) {
        if (!job || p->name() == *job) p->release_delete_brake();
    }
}

connectors::ChangeInbox* Daemon::inbox(const std::string& target) {
    for (auto& d : dispatchers_) {
        if (d->target() == target) return d->connector().inbox();
    }
    return nullptr;
}

void Daemon::write_back_now(const std::string& target) {
    for (auto& d : dispatchers_) {
        if (d->target() == target) d->wake();
    }
}

bool Daemon::hint(const std::string& name) {
    for (std::size_t i = 0; i < pollers_.size(); ++i) {
        if (pollers_[i]->name() != name) continue;
        runners_[i]->hint();
        return true;
    }
    return false;
}

void Daemon::sources_changed(const std::string& job) {
    for (auto& poller : pollers_) {
        if (poller->name() == job) poller->sources_changed();
    }
}

void Daemon::schema_changed(const std::string& data_source_id) {
    for (auto& poller : pollers_) poller->schema_changed(data_source_id);
}

std::optional<std::string> Daemon::job_for(const std::string& entity_id,
                                           const std::string& data_source_id) {
    std::string ds = data_source_id;
    if (ds.empty()) {
        if (const auto page = mirror_->page_digest(entity_id)) ds = page->data_source_id;
    }
    for (const auto& poller : pollers_) {
        const auto& sources = poller->data_sources();
        for (const auto& id : {ds, entity_id}) {
            if (!id.empty() && std::find(sources.begin(), sources.end(), id) != sources.end())
                return poller->name();
        }
    }
    return std::nullopt;
}

Snapshot Daemon::snapshot() {
    Snapshot out{.budget = budget_->metrics(),
                 .client = client_->metrics(),
                 .budget_per_minute = config_.notion.budget.per_minute,
                 .not_ready = not_ready(),
                 .auth_rejected = auth_.is_rejected(),
                 .auth_reason = auth_.reason()};
    for (std::size_t i = 0; i < pollers_.size(); ++i) {
        const auto& name = pollers_[i]->name();
        const auto scheduled = runners_[i]->scheduled();
        const auto now = std::chrono::steady_clock::now();
        JobSnapshot job{.name = name,
                        .every = config_.syncs[i].every,
                        .min_every = config_.syncs[i].min_every,
                        .expected_staleness_s = scheduler_->expected_staleness_seconds(scheduled),
                        .backlog_requests = scheduler_->backlog_requests(scheduled, now),
                        .time_to_converge_s = scheduler_->time_to_converge_seconds(scheduled, now),
                        .state = runners_[i]->state(),
                        .held_deletes = mirror_->held_deletes(name),
                        .held = mirror_->held_delete_pages(name)};
        for (const auto& s : mirror_->sources(name)) {
            job.sources.push_back({.data_source_id = s.data_source_id,
                                   .title = s.schema ? s.schema->title : std::string(),
                                   .watermark = s.watermark,
                                   .last_complete_read = s.read_from,
                                   .pages = mirror_->live_page_count(s.data_source_id)});
            if (std::find(scheduled.begin(), scheduled.end(), s.data_source_id) !=
                scheduled.end()) {
                auto& source = job.sources.back();
                source.interval_s =
                    std::chrono::duration<double>(scheduler_->interval(s.data_source_id)).count();
                source.change_rate = scheduler_->rate(s.data_source_id);
            }
        }
        for (const auto& d : dispatchers_) {
            if (d->sync() != name) continue;
            job.targets.push_back({.target = d->target(),
                                   .cursor = mirror_->cursor(d->target()),
                                   .pending = d->pending(),
                                   .snapshots_pending = mirror_->snapshots_pending(d->target()),
                                   .delivered = d->delivered(),
                                   .last_delivered = d->last_delivered(),
                                   .last_error = d->last_error(),
                                   .dead_letters = mirror_->dead_letter_count(d->target())});
            if (const auto* w = d->write_back()) {
                auto& t = job.targets.back();
                t.two_way = true;
                t.conflicts_open = mirror_->open_conflicts(d->target());
                t.held_writes = w->totals().held;
                t.pages_written = w->totals().pages_written;
            }
        }
        out.jobs.push_back(std::move(job));
    }
    return out;
}

std::optional<std::string> Daemon::not_ready() const {
    // Config loaded and mirror open (this object exists), Notion accepts the token, and Notion
    // answered within the last three poll intervals (at least 5 minutes) once polling began.
    if (auth_.is_rejected()) return auth_.reason();
    bool polled = false;
    std::chrono::milliseconds window = std::chrono::minutes(5);
    for (std::size_t i = 0; i < runners_.size(); ++i) {
        polled = polled || runners_[i]->state().polls > 0;
        window = std::max<std::chrono::milliseconds>(window, config_.syncs[i].every * 3);
    }
    if (!polled) return std::nullopt;
    const auto last = client_->last_answer();
    if (last != std::chrono::steady_clock::time_point{} &&
        std::chrono::steady_clock::now() - last <= window) {
        return std::nullopt;
    }
    return "Notion has not answered for " +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(window).count()) +
           " s (see the jobs' last errors in /v1/status)";
}

void Daemon::stop() {
    stopping_ = true;
    for (auto& runner : runners_) runner->stop();
    for (auto& d : dispatchers_) d->stop();
    // Requests waiting for the budget or in flight for a poll are abandoned: the poll's batch is
    // not committed, so the next start reads it again.
    client_->shutdown();
}

}  // namespace syncd::sync
