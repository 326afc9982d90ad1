#include "connectors/jsonl/jsonl.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/model/json_text.hpp"

namespace syncd::connectors::jsonl {
namespace {

class JsonlConnector final : public Connector {
public:
    explicit JsonlConnector(Settings settings) : settings_(std::move(settings)) {}
    ~JsonlConnector() override {
        if (fd_ >= 0) close(fd_);
    }

    boost::asio::awaitable<void> start() override {
        fd_ = open(settings_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd_ < 0) {
            throw DeliveryError(
                "jsonl: cannot open " + settings_.path + ": " + std::strerror(errno), true);
        }
        co_return;
    }

    boost::asio::awaitable<void> deliver(ChangeBatch batch) override {
        std::string text;
        for (const auto& e : batch.events) {
            boost::json::object line{
                {"event", e.kind},
                {"sync", e.sync},
                {"data_source_id", e.data_source_id},
                {"page_id",
                 e.page_id.empty() ? boost::json::value() : boost::json::value(e.page_id)},
                {"last_edited_time", e.last_edited_time.empty()
                                         ? boost::json::value()
                                         : boost::json::value(e.last_edited_time)},
                {"properties", e.properties},
                {"changed", e.changed},
                {"seq", e.seq}};
            if (e.content) {
                line["content"] = *e.content;
                line["content_changed"] = e.content_changed;
            }
            if (e.snapshot) line["snapshot"] = true;
            model::append_json_text(text, line);
            text += '\n';
            if (settings_.fsync == FsyncPolicy::always) {
                write_all(text);
                text.clear();
                sync();
            }
        }
        write_all(text);
        if (settings_.fsync == FsyncPolicy::batch) sync();
        co_return;
    }

private:
    void write_all(const std::string& text) {
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = write(fd_, text.data() + done, text.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw DeliveryError(
                    "jsonl: writing " + settings_.path + ": " + std::strerror(errno), true);
            }
            done += static_cast<std::size_t>(n);
        }
    }
    void sync() {
        if (fdatasync(fd_) != 0) {
            throw DeliveryError("jsonl: fsync of " + settings_.path + ": " + std::strerror(errno),
                                true);
        }
    }

    Settings settings_;
    int fd_ = -1;
};

}  // namespace

Settings parse_settings(config::SettingsReader& read) {
    Settings s{.path = read.required_string("path")};
    const std::string fsync = read.string_or("fsync", "batch");
    if (fsync == "always") {
        s.fsync = FsyncPolicy::always;
    } else if (fsync == "never") {
        s.fsync = FsyncPolicy::never;
    } else if (fsync != "batch") {
        read.problem("expected always, batch or never", "fsync");
    }
    return s;
}

void validate(config::SettingsReader& read) { parse_settings(read); }

std::unique_ptr<Connector> make_connector(config::SettingsReader& read, const ConnectorContext&) {
    return std::make_unique<JsonlConnector>(parse_settings(read));
}

}  // namespace syncd::connectors::jsonl
