#include "daemon/model/log.hpp"

#include "daemon/model/json_text.hpp"

namespace syncd::log {
namespace {
thread_local Fields current = {};
}

Fields current_fields() { return current; }

void append_json_fields(std::string& out) {
    for (const auto& field : current) {
        out += ",\"";
        model::append_json_escaped(out, field.key);
        out += "\":";
        if (field.is_number) {
            out += field.value;
        } else {
            out += '"';
            model::append_json_escaped(out, field.value);
            out += '"';
        }
    }
}

std::int64_t ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start)
        .count();
}

namespace detail {
Scope::Scope(Fields fields) : previous_(current) { current = fields; }
Scope::~Scope() { current = previous_; }
}  // namespace detail

}  // namespace syncd::log
