#include "connectors/change_inbox.hpp"

#include <optional>

namespace syncd::connectors {

namespace json = boost::json;

Change read_change(const json::value& v, std::size_t index, bool snapshot) {
    Change c{.index = index};
    if (!v.is_object()) {
        c.error = "a change must be a JSON object";
        return c;
    }
    const auto& o = v.get_object();
    const auto text = [&](const char* key) -> std::optional<std::string> {
        const auto* x = o.if_contains(key);
        if (x == nullptr || x->is_null()) return std::string();
        if (!x->is_string()) return std::nullopt;
        return std::string(x->get_string());
    };
    const auto page = text("page_id");
    const auto key = text("external_key");
    const auto source = text("data_source_id");
    if (!page || !key || !source) {
        c.error = "page_id, external_key and data_source_id must be strings";
        return c;
    }
    c.page_id = *page;
    c.external_key = *key;
    c.data_source_id = *source;
    if (c.page_id.empty() == c.external_key.empty() && !snapshot) {
        c.error = "a change names its row by page_id or by external_key (one of them)";
        return c;
    }
    if (snapshot && c.page_id.empty()) {
        c.error = "a snapshot row needs its page_id";
        return c;
    }
    if (const auto* p = o.if_contains("properties"); p && !p->is_null()) {
        if (!p->is_object()) {
            c.error = "\"properties\" must be an object (property name or id -> value)";
            return c;
        }
        c.properties = p->get_object();
    }
    if (const auto* d = o.if_contains("deleted"); d && !d->is_null()) {
        if (!d->is_bool()) {
            c.error = "\"deleted\" must be true or false";
            return c;
        }
        c.deleted = d->get_bool();
    }
    if (const auto* b = o.if_contains("based_on"); b && !b->is_null()) {
        if (!b->is_object()) {
            c.error = "\"based_on\" must be an object ({\"seq\": …} or {\"last_edited_time\": …})";
            return c;
        }
        c.based_on = b->get_object();
    }
    if (c.deleted && !c.external_key.empty()) {
        c.error = "a row without a page cannot be deleted in Notion";
    }
    return c;
}

json::object result_json(std::int64_t id, const Change& change, const std::string& status,
                         const ExternalRow::Outcome& outcome) {
    json::object message;
    message["id"] = id;
    message["index"] = change.index;
    if (!change.page_id.empty()) message["page_id"] = change.page_id;
    if (!change.external_key.empty()) message["external_key"] = change.external_key;
    if (!outcome.page_id.empty()) message["page_id"] = outcome.page_id;
    message["status"] = status;
    json::array written;
    for (const auto& name : outcome.written) written.emplace_back(name);
    message["written"] = std::move(written);
    json::array rejected;
    for (const auto& [property, reason] : outcome.rejected) {
        json::object r{{"reason", reason}};
        if (!property.empty()) r["property"] = property;
        rejected.push_back(std::move(r));
    }
    message["rejected"] = std::move(rejected);
    return message;
}

void ChangeInbox::result(std::int64_t id, const Change& change, const std::string& status,
                         const ExternalRow::Outcome& outcome) {
    json::object r = result_json(id, change, status, outcome);
    auto [it, fresh] = kept_.try_emplace(id);
    if (fresh) {
        kept_order_.push_back(id);
        while (kept_order_.size() > 1000) {
            kept_.erase(kept_order_.front());
            kept_order_.pop_front();
        }
    }
    if (const auto k = kept_.find(id); k != kept_.end()) k->second.push_back(r);
    fresh_.push_back(std::move(r));
}

const model::PropertyInfo* ChangeInbox::property(const std::string& data_source_id,
                                                 const std::string& key) const {
    for (const auto& [id, schema] : schemas_) {
        if (!data_source_id.empty() && id != data_source_id) continue;
        for (const auto& p : schema.properties) {
            if (p.name == key || p.id == key) return &p;
        }
    }
    return nullptr;
}

std::string ChangeInbox::row_of(const Change& change, ExternalRow& row) const {
    row.table = table_;
    row.page_id = change.page_id;
    row.row_key = change.external_key;
    row.data_source_id = change.data_source_id;
    row.deleted = change.deleted;
    if (row.page_id.empty() && row.data_source_id.empty()) {
        if (schemas_.size() != 1)
            return "this sync reads several data sources: a new row needs its data_source_id";
        row.data_source_id = schemas_.begin()->first;
    }
    if (!row.data_source_id.empty() && !schemas_.contains(row.data_source_id))
        return "data source " + row.data_source_id + " is not one of this sync's";
    for (const auto& [key, value] : change.properties) {
        const model::PropertyInfo* p = property(row.data_source_id, std::string(key));
        if (p == nullptr) return "no property `" + std::string(key) + "` in this sync";
        row.values[p->id] = value;
    }
    return {};
}

std::map<std::size_t, std::string> ChangeInbox::take(std::int64_t id,
                                                     const std::vector<Change>& changes) {
    std::map<std::size_t, std::string> refused;
    for (const auto& change : changes) {
        ExternalRow row;
        std::string why = change.error;
        if (why.empty()) why = row_of(change, row);
        if (!why.empty()) {
            ExternalRow::Outcome outcome;
            outcome.rejected.emplace_back("", why);
            result(id, change, "rejected", outcome);
            refused[change.index] = why;
            continue;
        }
        if (const auto* t = change.based_on.if_contains("last_edited_time"); t && t->is_string())
            row.based_on = std::string(t->get_string());
        const std::string key =
            change.page_id.empty() ? "key:" + change.external_key : "page:" + change.page_id;
        row.capture = key;
        row.generation = ++generation_;
        row.captured_at = std::chrono::system_clock::now();
        if (const auto it = pending_.find(key); it != pending_.end()) {
            // The same change sent again keeps its capture (it settles from the first).
            if (it->second.row.values == row.values && it->second.row.deleted == row.deleted) {
                row.generation = it->second.row.generation;
                row.captured_at = it->second.row.captured_at;
            }
            // A later change of the same row replaces one not decided yet.
            ExternalRow::Outcome outcome;
            outcome.rejected.emplace_back("", "replaced by change " + std::to_string(change.index) +
                                                  " of message " + std::to_string(id));
            result(it->second.message, it->second.change, "replaced", outcome);
        }
        pending_[key] = Pending{.message = id, .change = change, .row = std::move(row)};
    }
    return refused;
}

std::vector<ExternalRow> ChangeInbox::rows() const {
    std::vector<ExternalRow> out;
    for (const auto& [key, pending] : pending_) out.push_back(pending.row);
    return out;
}

void ChangeInbox::decided(const std::vector<ExternalRow>& rows) {
    for (const auto& row : rows) {
        const auto it = pending_.find(row.capture);
        if (it == pending_.end() || it->second.row.generation != row.generation) continue;
        result(it->second.message, it->second.change,
               row.outcome.rejected.empty() ? "applied" : "rejected", row.outcome);
        pending_.erase(it);
    }
}

std::vector<json::object> ChangeInbox::take_results() { return std::exchange(fresh_, {}); }

std::vector<json::object> ChangeInbox::results_of(std::int64_t id) const {
    const auto it = kept_.find(id);
    return it == kept_.end() ? std::vector<json::object>{} : it->second;
}

std::size_t ChangeInbox::undecided(std::int64_t id) const {
    std::size_t n = 0;
    for (const auto& [key, pending] : pending_) n += pending.message == id ? 1 : 0;
    return n;
}

}  // namespace syncd::connectors
