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
            // {"event","sync","data_source_id","page_id","last_edited_time","properties",
            // "changed","seq"[,"content","content_changed"][,"snapshot"]}, written straight to
            // text (the line format is the connector's contract: this order, these members).
            text += '{';
            model::append_json_key(text, "event", true);
            model::append_json_string(text, e.kind);
            model::append_json_key(text, "sync");
            model::append_json_string(text, e.sync);
            model::append_json_key(text, "data_source_id");
            model::append_json_string(text, e.data_source_id);
            model::append_json_key(text, "page_id");
            model::append_json_string_or_null(text, e.page_id);
            model::append_json_key(text, "last_edited_time");
            model::append_json_string_or_null(text, e.last_edited_time);
            model::append_json_key(text, "properties");
            model::append_json_text(text, e.properties);
            model::append_json_key(text, "changed");
            model::append_json_text(text, e.changed);
            model::append_json_key(text, "seq");
            text += std::to_string(e.seq);
            if (e.content) {
                model::append_json_key(text, "content");
                model::append_json_text(text, *e.content);
                model::append_json_key(text, "content_changed");
                text += e.content_changed ? "true" : "false";
            }
            if (e.snapshot) {
                model::append_json_key(text, "snapshot");
                text += "true";
            }
            text += "}\n";
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
