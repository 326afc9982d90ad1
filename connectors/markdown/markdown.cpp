#include "connectors/markdown/markdown.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "connectors/markdown/body.hpp"
#include "connectors/markdown/front_matter.hpp"
#include "daemon/model/hash.hpp"
#include "daemon/model/json_text.hpp"
#include "daemon/model/sqlite.hpp"

namespace syncd::connectors::markdown {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

std::string hash_text(std::string_view text) {
    model::Hasher hasher;
    hasher.bytes(text);
    return hasher.hex();
}

std::optional<std::string> read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return std::move(text).str();
}

// What a scan compares before reading a file: any difference means "read it and hash it".
struct FileStat {
    std::int64_t size = -1;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::int64_t inode = 0;
    bool operator==(const FileStat&) const = default;
};

std::optional<FileStat> stat_of(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    return FileStat{.size = st.st_size,
                    .mtime_ns = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec,
                    .ctime_ns = st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec,
                    .inode = static_cast<std::int64_t>(st.st_ino)};
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// "20261207T163000Z", for conflict copies' names.
std::string utc_stamp() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &tm);
    return text;
}

// Files the scan looks at: Markdown files a person may edit, not ours in progress, not conflict
// copies.
bool scanned(const std::string& name) {
    return name.ends_with(".md") && !name.starts_with(".") &&
           name.find(".conflict-") == std::string::npos;
}

// A front matter value (any YAML) as JSON, to tell whether two versions of a file differ in it.
json::value comparable(const YAML::Node& node) {
    if (!node.IsDefined() || node.IsNull()) return nullptr;
    if (node.IsScalar()) {
        return json::object{{"text", node.Scalar()}, {"quoted", node.Tag() == "!"}};
    }
    if (node.IsSequence()) {
        json::array out;
        for (const auto& item : node) out.push_back(comparable(item));
        return out;
    }
    json::object out;
    for (const auto& entry : node) {
        if (entry.first.IsScalar()) out[entry.first.Scalar()] = comparable(entry.second);
    }
    return out;
}

class MarkdownConnector final : public Connector {
public:
    MarkdownConnector(Settings settings, bool two_way, bool body)
        : settings_(std::move(settings)), two_way_(two_way), body_(two_way && body) {}

    bool wants_names() const override { return true; }

    boost::asio::awaitable<void> start() override {
        std::error_code error;
        fs::create_directories(fs::path(settings_.dir) / ".trash", error);
        if (error) {
            throw DeliveryError("markdown: cannot create " + settings_.dir + ": " + error.message(),
                                true);
        }
        if (two_way_) open_state();
        co_return;
    }

    boost::asio::awaitable<void> apply_schema(ChangeBatch batch) override {
        if (two_way_) remember_schemas(batch);
        co_return;
    }

    boost::asio::awaitable<void> deliver(ChangeBatch batch) override {
        by_short_id_.reset();  // read the directory again, once
        if (two_way_) remember_schemas(batch);
        // A file is a page's latest state: of several events of one page in a batch only the
        // last is written (an earlier one would replace a person's value the later one keeps).
        std::map<std::string, std::size_t> last;
        for (std::size_t i = 0; i < batch.events.size(); ++i) last[batch.events[i].page_id] = i;
        for (std::size_t i = 0; i < batch.events.size(); ++i) {
            const auto& event = batch.events[i];
            if (event.page_id.empty()) continue;  // schema_changed: nothing to write
            if (last[event.page_id] != i) continue;
            if (event.kind == "deleted" || event.kind == "access_lost") {
                for (const auto& existing : files_of(event.page_id)) {
                    const fs::path to = fs::path(settings_.dir) / ".trash" / existing.filename();
                    rename_or_throw(existing, to);
                }
                if (two_way_) forget(event.page_id);
                continue;
            }
            if (!event.content) {
                throw DeliveryError(
                    "markdown: event without page content; set `content: true` on sync " +
                        event.sync,
                    false);
            }
            if (two_way_) {
                deliver_two_way(batch, event);
                continue;
            }
            const std::string title = title_of(batch, event);
            const fs::path target = fs::path(settings_.dir) / file_name(title, event.page_id);
            write_atomically(target, render(batch, event, title));
            // A rename (or a restore from .trash) leaves no other file for the page.
            for (const auto& existing : files_of(event.page_id)) {
                if (existing != target) fs::remove(existing);
            }
            std::error_code ignored;
            fs::remove(fs::path(settings_.dir) / ".trash" / target.filename(), ignored);
        }
        co_return;
    }

    boost::asio::awaitable<std::vector<ExternalRow>> external_changes() override {
        co_return two_way_ ? scan(false) : std::vector<ExternalRow>{};
    }

    boost::asio::awaitable<void> acknowledge(std::vector<ExternalRow> rows) override {
        if (!two_way_) co_return;
        sqlite::Transaction transaction(*db_);
        for (const auto& row : rows) {
            if (row.capture.empty()) continue;  // found by a full comparison: nothing captured
            if (row.page_id.empty()) {
                auto s = db_->cached(
                    "UPDATE new_files SET acked = generation WHERE name = ?1 "
                    "AND generation = ?2");
                s->bind(1, row.row_key).bind(2, row.generation).run();
            } else if (row.deleted) {
                // Handled: trashed in Notion, or restored by a delivery that tracks it anew.
                auto s = db_->cached(
                    "DELETE FROM files WHERE page_id = ?1 AND generation = ?2 AND seen_hash = ''");
                s->bind(1, row.page_id).bind(2, row.generation).run();
            } else {
                auto s = db_->cached(
                    "UPDATE files SET acked = generation WHERE page_id = ?1 AND "
                    "generation = ?2");
                s->bind(1, row.page_id).bind(2, row.generation).run();
            }
        }
        transaction.commit();
        co_return;
    }

    boost::asio::awaitable<std::vector<ExternalRow>> all_rows() override {
        co_return two_way_ ? scan(true) : std::vector<ExternalRow>{};
    }

    boost::asio::awaitable<void> assign_page_id(ExternalRow row, std::string page_id) override {
        // The person's new file gets the page's id as its first key, written as our own write
        // (its hash is the base), so the page's first delivery finds the file by it.
        const fs::path path = fs::path(settings_.dir) / row.row_key;
        const auto text = read_text(path);
        if (!text) {
            throw DeliveryError("markdown: " + path.string() + " is gone; its page " + page_id +
                                    " is delivered as a new file",
                                false);
        }
        std::string with_id = *text;
        if (with_id.starts_with("---\n")) {
            with_id.insert(4, std::string(notion_id_key) + ": " + page_id + "\n");
        } else {
            with_id = "---\n" + std::string(notion_id_key) + ": " + page_id + "\n---\n\n" + with_id;
        }
        write_atomically(path, with_id);
        sqlite::Transaction transaction(*db_);
        track(page_id, row.data_source_id, row.row_key, with_id, with_id);
        db_->cached("DELETE FROM new_files WHERE name = ?1")->bind(1, row.row_key).run();
        transaction.commit();
        co_return;
    }

private:
    static std::string title_of(const ChangeBatch& batch, const model::ChangeEvent& event) {
        if (const auto it = batch.schemas.find(event.data_source_id); it != batch.schemas.end()) {
            for (const auto& p : it->second.properties) {
                if (p.type == "title") {
                    if (const auto* v = event.properties.if_contains(p.name); v && v->is_string())
                        return std::string(v->get_string());
                }
            }
        }
        return {};
    }

    static std::string render(const ChangeBatch& batch, const model::ChangeEvent& event,
                              const std::string& title) {
        const auto it = batch.schemas.find(event.data_source_id);
        return render_page(event, title, it == batch.schemas.end() ? nullptr : &it->second,
                           &batch.names);
    }

    // ---- two-way state: dir/.notion-syncd/state.sqlite ----

    void open_state() {
        const fs::path dir = fs::path(settings_.dir) / ".notion-syncd";
        std::error_code error;
        fs::create_directories(dir, error);
        if (error) {
            throw DeliveryError("markdown: cannot create " + dir.string() + ": " + error.message(),
                                true);
        }
        db_ = std::make_unique<sqlite::Database>((dir / "state.sqlite").string());
        db_->exec(
            "PRAGMA journal_mode = WAL;"
            "PRAGMA busy_timeout = 5000;"
            // A page's file: what the daemon last wrote there (the base of the file's text),
            // what a scan last saw (its hash and stat), and the capture's generation: bumped when
            // the file's content changes, acknowledged by the write-back. seen_hash '' = gone.
            "CREATE TABLE IF NOT EXISTS files(page_id TEXT PRIMARY KEY, data_source_id TEXT "
            "NOT NULL, name TEXT NOT NULL, written TEXT NOT NULL, written_hash TEXT NOT NULL, "
            "seen_hash TEXT NOT NULL, size INTEGER NOT NULL DEFAULT -1, mtime_ns INTEGER NOT NULL "
            "DEFAULT 0, ctime_ns INTEGER NOT NULL DEFAULT 0, inode INTEGER NOT NULL DEFAULT 0, "
            "generation INTEGER NOT NULL DEFAULT 0, acked INTEGER NOT NULL DEFAULT 0, seen_at "
            "INTEGER NOT NULL DEFAULT 0);"
            // Files a person made without a notion_id (pages to create), by name.
            "CREATE TABLE IF NOT EXISTS new_files(name TEXT PRIMARY KEY, hash TEXT NOT NULL, "
            "size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, inode "
            "INTEGER NOT NULL, generation INTEGER NOT NULL, acked INTEGER NOT NULL DEFAULT 0, "
            "seen_at INTEGER NOT NULL);"
            "CREATE TABLE IF NOT EXISTS schemas(data_source_id TEXT PRIMARY KEY, schema TEXT NOT "
            "NULL);"
            // The blocks a page's file shows (their ids, types and text, and the content hash),
            // the base a body edit is turned into block changes against.
            "CREATE TABLE IF NOT EXISTS bodies(page_id TEXT PRIMARY KEY, content_hash TEXT NOT "
            "NULL, chunks TEXT NOT NULL);");
        auto s = db_->prepare("SELECT data_source_id, schema FROM schemas");
        while (s.step()) {
            schemas_[s.text(0)] =
                model::Schema::from_json(model::parse_json(s.text(1)).as_object());
        }
    }

    void remember_schemas(const ChangeBatch& batch) {
        for (const auto& [id, schema] : batch.schemas) {
            const std::string text = model::to_json_text(schema.to_json());
            if (const auto it = schema_texts_.find(id);
                it != schema_texts_.end() && it->second == text)
                continue;
            db_->cached(
                   "INSERT INTO schemas(data_source_id, schema) VALUES (?1, ?2) ON CONFLICT "
                   "DO UPDATE SET schema = excluded.schema")
                ->bind(1, id)
                .bind(2, text)
                .run();
            schema_texts_[id] = text;
            schemas_[id] = schema;
        }
        sources_.clear();
        for (const auto& [id, schema] : batch.schemas) sources_.push_back(id);
    }

    struct Tracked {
        std::string page_id;
        std::string data_source_id;
        std::string name;
        std::string written;
        std::string written_hash;
        std::string seen_hash;
        FileStat stat;
        std::int64_t generation = 0;
        std::int64_t acked = 0;
        std::int64_t seen_at = 0;
    };

    std::optional<Tracked> tracked(const std::string& page_id) {
        auto s = db_->cached(std::string(select_files) + " WHERE page_id = ?1");
        s->bind(1, page_id);
        if (!s->step()) return std::nullopt;
        return row_of(*s);
    }

    // The columns row_of() reads, in its order.
    static constexpr std::string_view select_files =
        "SELECT page_id, data_source_id, name, written, written_hash, seen_hash, size, mtime_ns, "
        "ctime_ns, inode, generation, acked, seen_at FROM files";

    static Tracked row_of(sqlite::Statement& s) {
        return Tracked{.page_id = s.text(0),
                       .data_source_id = s.text(1),
                       .name = s.text(2),
                       .written = s.text(3),
                       .written_hash = s.text(4),
                       .seen_hash = s.text(5),
                       .stat = {.size = s.integer(6),
                                .mtime_ns = s.integer(7),
                                .ctime_ns = s.integer(8),
                                .inode = s.integer(9)},
                       .generation = s.integer(10),
                       .acked = s.integer(11),
                       .seen_at = s.integer(12)};
    }

    // The page's file is now `name` holding `actual`; `written` is Notion's side of it (the
    // same, unless the file keeps a person's values not merged yet). A capture pending before
    // stays pending (same generation), anything else is handled.
    void track(const std::string& page_id, const std::string& data_source_id,
               const std::string& name, const std::string& written, const std::string& actual) {
        const auto stat = stat_of(fs::path(settings_.dir) / name).value_or(FileStat{});
        const auto before = tracked(page_id);
        const bool pending = before && before->generation != before->acked &&
                             before->seen_hash != before->written_hash;
        // The file keeps values Notion does not have (a person's, left out of the delivery): a
        // capture pending before stays pending; otherwise they are a new capture, so an edit
        // made after the last scan is merged too (not only found by verify_every).
        const bool keeps = hash_text(actual) != hash_text(written);
        const std::int64_t generation = before ? before->generation + (pending ? 0 : 1) : 1;
        const std::int64_t acked = pending ? before->acked : keeps ? generation - 1 : generation;
        db_->cached(
               "INSERT INTO files(page_id, data_source_id, name, written, written_hash, seen_hash, "
               "size, mtime_ns, ctime_ns, inode, generation, acked, seen_at) VALUES (?1, ?2, ?3, "
               "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT DO UPDATE SET "
               "data_source_id = excluded.data_source_id, name = excluded.name, written = "
               "excluded.written, written_hash = excluded.written_hash, seen_hash = "
               "excluded.seen_hash, size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = "
               "excluded.ctime_ns, inode = excluded.inode, generation = excluded.generation, "
               "acked = excluded.acked, seen_at = excluded.seen_at")
            ->bind(1, page_id)
            .bind(2, data_source_id)
            .bind(3, name)
            .bind(4, written)
            .bind(5, hash_text(written))
            .bind(6, hash_text(actual))
            .bind(7, stat.size)
            .bind(8, stat.mtime_ns)
            .bind(9, stat.ctime_ns)
            .bind(10, stat.inode)
            .bind(11, generation)
            .bind(12, acked)
            .bind(13, pending ? before->seen_at : now_ms())
            .run();
    }

    void forget(const std::string& page_id) {
        db_->cached("DELETE FROM files WHERE page_id = ?1")->bind(1, page_id).run();
        db_->cached("DELETE FROM bodies WHERE page_id = ?1")->bind(1, page_id).run();
    }

    struct StoredBody {
        std::string content_hash;
        std::vector<BodyChunk> chunks;
    };

    std::optional<StoredBody> body_of(const std::string& page_id) {
        auto s = db_->cached("SELECT content_hash, chunks FROM bodies WHERE page_id = ?1");
        s->bind(1, page_id);
        if (!s->step()) return std::nullopt;
        return StoredBody{s->text(0), chunks_from_json(model::parse_json(s->text(1)))};
    }

    void save_body(const std::string& page_id, const json::array& blocks) {
        db_->cached(
               "INSERT INTO bodies(page_id, content_hash, chunks) VALUES (?1, ?2, ?3) ON "
               "CONFLICT DO UPDATE SET content_hash = excluded.content_hash, chunks = "
               "excluded.chunks")
            ->bind(1, page_id)
            .bind(2, model::content_hash(blocks))
            .bind(3, model::to_json_text(chunks_json(body_chunks(blocks))))
            .run();
    }

    // A person's body (`body`, below the front matter) against the one written from Notion's
    // blocks (`written_body`): the block changes, or why there are none.
    BodyEdit body_edit(const std::string& page_id, const std::string& body,
                       const std::string& written_body) {
        BodyEdit edit;
        const auto stored = body_of(page_id);
        if (!stored) {
            edit.error =
                "body not round-trippable: the file was written before its blocks were "
                "recorded; the body is written back once the page's next change in Notion "
                "rewrites the file";
            return edit;
        }
        std::string blocks_text;
        for (const auto& c : stored->chunks) blocks_text += c.text;
        // The title heading above the blocks shows the front matter's `title:`: not a block.
        const std::string header =
            written_body.ends_with(blocks_text)
                ? written_body.substr(0, written_body.size() - blocks_text.size())
                : std::string();
        if (header.empty() && !blocks_text.empty() && !written_body.ends_with(blocks_text)) {
            edit.error = "body not round-trippable: the recorded blocks do not match the file";
            return edit;
        }
        if (!body.starts_with(header)) {
            edit.error =
                "body not round-trippable: the title heading changed; change `title:` in the "
                "front matter instead";
            return edit;
        }
        edit = plan_body(stored->chunks, std::string_view(body).substr(header.size()));
        edit.based_on = stored->content_hash;
        return edit;
    }

    const model::Schema* schema_of(const std::string& data_source_id) const {
        const auto it = schemas_.find(data_source_id);
        return it == schemas_.end() ? nullptr : &it->second;
    }

    // A page delivered to a two-way directory: its file keeps its name (the person's choice, or
    // the one first given), the values the event leaves out (an edit not merged yet, a conflict
    // parked for a person) stay as the file has them, and a person's change the new text would
    // lose is kept in a conflict copy beside it first.
    void deliver_two_way(const ChangeBatch& batch, const model::ChangeEvent& event) {
        const std::string title = title_of(batch, event);
        const auto before = tracked(event.page_id);
        std::string name = file_name(title, event.page_id);
        if (before) {
            if (before->seen_hash.empty() && before->generation != before->acked) {
                // The person deleted the file and the write-back has not decided yet (an edit
                // in Notion beats the delete, `delete:` trashes the page): left for it.
                return;
            }
            if (fs::exists(fs::path(settings_.dir) / before->name)) name = before->name;
        }
        const fs::path path = fs::path(settings_.dir) / name;
        const model::Schema* schema = schema_of(event.data_source_id);
        const std::optional<std::string> current = read_text(path);
        const FrontMatter person = current ? read_front_matter(*current) : FrontMatter{};
        const FrontMatter written_front =
            before ? read_front_matter(before->written) : FrontMatter{};
        // The event's values, with what it leaves out taken from the file (actual) or from what
        // was written last (Notion's side).
        model::ChangeEvent actual = event;
        model::ChangeEvent notion_side = event;
        if (schema != nullptr) {
            const FileValues kept = values_of(person, *schema);
            const FileValues last = values_of(written_front, *schema);
            for (const auto& property : schema->properties) {
                if (event.properties.contains(property.name) || read_only_in_file(property))
                    continue;
                const auto* from_file = kept.values.if_contains(property.id);
                const auto* from_last = last.values.if_contains(property.id);
                if (from_file == nullptr) from_file = from_last;
                if (from_file != nullptr) {
                    actual.properties[property.name] = *from_file;
                    actual.property_ids[property.name] = property.id;
                }
                if (from_last != nullptr) {
                    notion_side.properties[property.name] = *from_last;
                    notion_side.property_ids[property.name] = property.id;
                }
            }
        }
        std::string text = render_page(actual, title, schema, &batch.names);
        const std::string notion_text = render_page(notion_side, title, schema, &batch.names);
        // body: two-way: a body the person changed stays while Notion's blocks are those the
        // file was written from (the write-back sends it); changed in Notion too, Notion's
        // replaces it below, and the person's version goes to a conflict copy.
        bool keep_body = false;
        if (body_ && current && before && person.error.empty() &&
            person.body != written_front.body) {
            const auto stored = body_of(event.page_id);
            keep_body = stored && stored->content_hash == model::content_hash(*event.content);
        }
        if (keep_body) {
            const std::string rendered_body = read_front_matter(text).body;
            text = text.substr(0, text.size() - rendered_body.size()) + person.body;
        } else {
            save_body(event.page_id, *event.content);
        }
        if (current && before && hash_text(*current) != before->written_hash &&
            loses_edit(person, written_front, read_front_matter(text), schema)) {
            const std::string stem = path.stem().string();
            const fs::path copy = path.parent_path() / (stem + ".conflict-" + utc_stamp() + ".md");
            write_atomically(copy, mark_conflict_copy(*current));
            spdlog::warn(
                "markdown: {} was changed by a person and the change is overwritten with "
                "Notion's values; the person's version is kept in {}",
                path.string(), copy.string());
        }
        write_atomically(path, text);
        if (!before) {
            for (const auto& existing : files_of(event.page_id)) {
                if (existing != path) fs::remove(existing);
            }
        }
        std::error_code ignored;
        fs::remove(fs::path(settings_.dir) / ".trash" / path.filename(), ignored);
        track(event.page_id, event.data_source_id, name, notion_text, text);
    }

    // Whether writing `next` over a file a person changed (from `written` to `person`) loses a
    // change of theirs: a key or the body they changed that `next` does not hold as they left it.
    static bool loses_edit(const FrontMatter& person, const FrontMatter& written,
                           const FrontMatter& next, const model::Schema* schema) {
        if (!person.error.empty()) return true;  // unreadable: keep it as the person saved it
        // Keys of properties compare as values of their type (8 and 8.0 are one number).
        std::map<std::string, std::string> types;
        if (schema != nullptr) {
            for (const auto& p : schema->properties) {
                if (!read_only_in_file(p))
                    types[p.type == "title" ? std::string(title_key) : p.name] = p.type;
            }
        }
        const auto value = [&](const FrontMatter& f, const std::string& key) -> json::value {
            const auto it = f.keys.find(key);
            if (it == f.keys.end()) return nullptr;
            const auto type = types.find(key);
            if (type == types.end()) return comparable(it->second);
            ReadValue read = read_value(it->second, type->second);
            if (!read.error.empty()) return json::object{{"unreadable", comparable(it->second)}};
            return read.value;
        };
        std::set<std::string> keys;
        for (const auto& [key, node] : person.keys) keys.insert(key);
        for (const auto& [key, node] : written.keys) keys.insert(key);
        for (const auto& key : keys) {
            const json::value mine = value(person, key);
            if (mine != value(written, key) && mine != value(next, key)) return true;
        }
        if (person.notion_id != written.notion_id && person.notion_id != next.notion_id)
            return true;
        return person.body != written.body && person.body != next.body;
    }

    // The captured edits (or, with `all`, every tracked file, re-hashed whatever its stat says,
    // for verify_every), as the write-back reads them.
    std::vector<ExternalRow> scan(bool all) {
        std::vector<ExternalRow> out;
        std::map<std::string, FileStat> present;  // name -> stat
        std::error_code error;
        for (const auto& entry : fs::directory_iterator(settings_.dir, error)) {
            const std::string name = entry.path().filename().string();
            if (!scanned(name)) continue;
            if (auto st = stat_of(entry.path())) present[name] = *st;
        }
        if (error) {
            throw DeliveryError("markdown: cannot read " + settings_.dir + ": " + error.message(),
                                true);
        }
        sqlite::Transaction transaction(*db_);
        std::vector<Tracked> files;
        {
            auto s = db_->cached(select_files);
            while (s->step()) files.push_back(row_of(*s));
        }
        std::set<std::string> claimed;
        std::map<std::string, std::size_t> missing;  // page id -> index in files
        for (std::size_t i = 0; i < files.size(); ++i) {
            if (present.contains(files[i].name)) {
                claimed.insert(files[i].name);
            } else {
                missing[files[i].page_id] = i;
            }
        }
        // Files nobody tracks: a tracked page's file under a new name (renamed by a person), a
        // new file without an id (a page to create), anything else left alone.
        for (const auto& [name, st] : present) {
            if (claimed.contains(name)) continue;
            if (known_untracked(name, st)) continue;
            const auto text = read_text(fs::path(settings_.dir) / name);
            if (!text) continue;
            const FrontMatter front = read_front_matter(*text);
            if (front.conflict_copy || !front.error.empty()) continue;
            if (!front.notion_id.empty()) {
                if (const auto m = missing.find(front.notion_id); m != missing.end()) {
                    Tracked& t = files[m->second];
                    t.name = name;
                    db_->cached("UPDATE files SET name = ?1 WHERE page_id = ?2")
                        ->bind(1, name)
                        .bind(2, t.page_id)
                        .run();
                    claimed.insert(name);
                    missing.erase(m);
                } else if (!tracked(front.notion_id)) {
                    adopt(name, *text, front);
                }
                continue;
            }
            new_file(name, st, *text, front, out);
        }
        for (auto& t : files) {
            const fs::path path = fs::path(settings_.dir) / t.name;
            if (missing.contains(t.page_id)) {
                if (!t.seen_hash.empty()) {
                    t.seen_hash.clear();
                    ++t.generation;
                    t.seen_at = now_ms();
                    save_seen(t);
                }
                if (!all && t.generation != t.acked) {
                    out.push_back(ExternalRow{.table = settings_.dir,
                                              .page_id = t.page_id,
                                              .capture = t.page_id,
                                              .data_source_id = t.data_source_id,
                                              .deleted = true,
                                              .generation = t.generation,
                                              .captured_at = std::chrono::system_clock::time_point(
                                                  std::chrono::milliseconds(t.seen_at))});
                }
                continue;
            }
            const FileStat st = present.at(t.name);
            std::optional<std::string> text;
            if (st != t.stat || t.seen_hash.empty() || all) {
                text = read_text(path);
                if (!text) continue;
                const std::string hash = hash_text(*text);
                if (hash != t.seen_hash) {
                    t.seen_hash = hash;
                    ++t.generation;
                    t.seen_at = now_ms();
                }
                t.stat = st;
                save_seen(t);
            }
            const bool changed = t.seen_hash != t.written_hash;
            if (!all && (!changed || t.generation == t.acked)) continue;
            if (!text) text = read_text(path);
            if (!text) continue;
            const FrontMatter front = read_front_matter(*text);
            if (!front.error.empty()) {
                spdlog::warn("markdown: {}: {}; not read until it is fixed", path.string(),
                             front.error);
                continue;
            }
            const model::Schema* schema = schema_of(t.data_source_id);
            if (schema == nullptr) continue;
            FileValues read = values_of(front, *schema);
            std::optional<BodyEdit> body;
            if (body_) {
                const std::string written_body = read_front_matter(t.written).body;
                if (front.body != written_body) {
                    BodyEdit edit = body_edit(t.page_id, front.body, written_body);
                    if (!edit.ops.empty() || !edit.error.empty()) body = std::move(edit);
                }
            }
            ExternalRow row{.table = settings_.dir,
                            .page_id = t.page_id,
                            .row_key = t.name,
                            .capture = all ? std::string() : t.page_id,
                            .data_source_id = t.data_source_id,
                            .values = std::move(read.values),
                            .errors = std::move(read.errors),
                            .generation = all ? 0 : t.generation,
                            .captured_at = std::chrono::system_clock::time_point(
                                std::chrono::milliseconds(t.seen_at))};
            row.body = std::move(body);
            out.push_back(std::move(row));
        }
        transaction.commit();
        return out;
    }

    // A file with a page's id the state does not know (written before two-way was on): its
    // text now is taken as agreed, its later edits are captured.
    void adopt(const std::string& name, const std::string& text, const FrontMatter& front) {
        std::string source = front.data_source_id;
        if (source.empty() && schemas_.size() == 1) source = schemas_.begin()->first;
        if (schema_of(source) == nullptr) return;
        track(front.notion_id, source, name, text, text);
    }

    void save_seen(const Tracked& t) {
        db_->cached(
               "UPDATE files SET seen_hash = ?1, size = ?2, mtime_ns = ?3, ctime_ns = ?4, inode = "
               "?5, generation = ?6, seen_at = ?7 WHERE page_id = ?8")
            ->bind(1, t.seen_hash)
            .bind(2, t.stat.size)
            .bind(3, t.stat.mtime_ns)
            .bind(4, t.stat.ctime_ns)
            .bind(5, t.stat.inode)
            .bind(6, t.generation)
            .bind(7, t.seen_at)
            .bind(8, t.page_id)
            .run();
    }

    // An untracked file seen before with this stat and no id in it: not read again.
    bool known_untracked(const std::string& name, const FileStat& st) {
        auto s = db_->cached(
            "SELECT size, mtime_ns, ctime_ns, inode, generation, acked FROM new_files WHERE name = "
            "?1");
        s->bind(1, name);
        if (!s->step()) return false;
        const FileStat seen{.size = s->integer(0),
                            .mtime_ns = s->integer(1),
                            .ctime_ns = s->integer(2),
                            .inode = s->integer(3)};
        return seen == st && s->integer(4) == s->integer(5);
    }

    // A file a person made without a notion_id: a page to create (two_way.create decides), in
    // the sync's data source (the one named under `notion: data_source:`, or the only one).
    void new_file(const std::string& name, const FileStat& st, const std::string& text,
                  const FrontMatter& front, std::vector<ExternalRow>& out) {
        const std::string hash = hash_text(text);
        std::int64_t generation = 1;
        std::int64_t acked = 0;
        std::int64_t seen_at = now_ms();
        {
            auto s = db_->cached(
                "SELECT hash, generation, acked, seen_at FROM new_files WHERE "
                "name = ?1");
            s->bind(1, name);
            if (s->step()) {
                generation = s->integer(1) + (s->text(0) == hash ? 0 : 1);
                acked = s->integer(2);
                if (s->text(0) == hash) seen_at = s->integer(3);
            }
        }
        db_->cached(
               "INSERT INTO new_files(name, hash, size, mtime_ns, ctime_ns, inode, generation, "
               "acked, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO UPDATE "
               "SET hash = excluded.hash, size = excluded.size, mtime_ns = excluded.mtime_ns, "
               "ctime_ns = excluded.ctime_ns, inode = excluded.inode, generation = "
               "excluded.generation, seen_at = excluded.seen_at")
            ->bind(1, name)
            .bind(2, hash)
            .bind(3, st.size)
            .bind(4, st.mtime_ns)
            .bind(5, st.ctime_ns)
            .bind(6, st.inode)
            .bind(7, generation)
            .bind(8, acked)
            .bind(9, seen_at)
            .run();
        if (generation == acked) return;
        std::string source;
        if (sources_.size() == 1) source = sources_.front();
        if (source.empty() && schemas_.size() == 1) source = schemas_.begin()->first;
        const model::Schema* schema = schema_of(source);
        if (schema == nullptr) {
            spdlog::warn(
                "markdown: {} has no notion_id and this sync reads several data sources (or none "
                "yet): it is left alone",
                name);
            return;
        }
        FileValues read = values_of(front, *schema);
        out.push_back(ExternalRow{.table = settings_.dir,
                                  .row_key = name,
                                  .capture = name,
                                  .data_source_id = source,
                                  .values = std::move(read.values),
                                  .errors = std::move(read.errors),
                                  .generation = generation,
                                  .captured_at = std::chrono::system_clock::time_point(
                                      std::chrono::milliseconds(seen_at))});
    }

    // Files of a page in dir (by the id in the name, confirmed by the front matter).
    // The directory's page files by the short id their names end with ("…-1f2e3d4c.md"), read
    // once per delivery: a scan per event made a batch quadratic in the directory's size.
    const std::vector<fs::path>& named_for(const std::string& id8) {
        if (!by_short_id_) {
            by_short_id_.emplace();
            std::error_code error;
            for (const auto& entry : fs::directory_iterator(settings_.dir, error)) {
                const std::string name = entry.path().filename().string();
                constexpr std::size_t tail = 1 + 8 + 3;  // "-" + 8 hex digits + ".md"
                if (!entry.is_regular_file() || name.size() < tail || !name.ends_with(".md") ||
                    name[name.size() - tail] != '-' || name.find(".conflict-") != std::string::npos)
                    continue;
                (*by_short_id_)[name.substr(name.size() - tail + 1, 8)].push_back(entry.path());
            }
        }
        static const std::vector<fs::path> none;
        const auto it = by_short_id_->find(id8);
        return it == by_short_id_->end() ? none : it->second;
    }

    std::vector<fs::path> files_of(const std::string& page_id) {
        std::vector<fs::path> out;
        for (const auto& path : named_for(short_id(page_id))) {
            std::error_code missing;
            if (!fs::is_regular_file(path, missing)) continue;  // moved earlier in this delivery
            std::ifstream in(path);
            std::string line;
            for (int i = 0; i < 4 && std::getline(in, line); ++i) {
                if (line == "notion_id: \"" + page_id + "\"" || line == "notion_id: " + page_id) {
                    out.push_back(path);
                    break;
                }
            }
        }
        if (two_way_) {
            if (const auto t = tracked(page_id)) {
                const fs::path path = fs::path(settings_.dir) / t->name;
                if (fs::exists(path) && std::find(out.begin(), out.end(), path) == out.end())
                    out.push_back(path);
            }
        }
        return out;
    }

    static std::string short_id(const std::string& page_id) {
        std::string hex;
        for (const char c : page_id)
            if (c != '-' && hex.size() < 8) hex.push_back(c);
        return hex;
    }

    static void rename_or_throw(const fs::path& from, const fs::path& to) {
        std::error_code error;
        fs::rename(from, to, error);
        if (error) {
            throw DeliveryError(
                "markdown: moving " + from.string() + " to " + to.string() + ": " + error.message(),
                true);
        }
    }

    static void write_atomically(const fs::path& target, const std::string& text) {
        const fs::path temp = target.parent_path() / (".tmp-" + target.filename().string());
        const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            throw DeliveryError(
                "markdown: cannot write " + temp.string() + ": " + std::strerror(errno), true);
        }
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                const std::string why = std::strerror(errno);
                ::close(fd);
                throw DeliveryError("markdown: writing " + temp.string() + ": " + why, true);
            }
            done += static_cast<std::size_t>(n);
        }
        const bool synced = ::fsync(fd) == 0;
        ::close(fd);
        if (!synced) throw DeliveryError("markdown: fsync of " + temp.string() + " failed", true);
        rename_or_throw(temp, target);
    }

    Settings settings_;
    bool two_way_ = false;
    bool body_ = false;                                                        // body: two-way
    std::optional<std::map<std::string, std::vector<fs::path>>> by_short_id_;  // named_for()
    std::unique_ptr<sqlite::Database> db_;
    std::map<std::string, model::Schema> schemas_;     // by data source id
    std::map<std::string, std::string> schema_texts_;  // what the state holds, by data source id
    std::vector<std::string> sources_;                 // the sync's data sources (last batch)
};

}  // namespace

Settings parse_settings(config::SettingsReader& read) {
    return {.dir = read.required_string("dir")};
}

void validate(config::SettingsReader& read) { parse_settings(read); }

std::unique_ptr<Connector> make_connector(config::SettingsReader& read,
                                          const ConnectorContext& context) {
    return std::make_unique<MarkdownConnector>(parse_settings(read), context.target.two_way,
                                               context.target.two_way_body);
}

}  // namespace syncd::connectors::markdown
