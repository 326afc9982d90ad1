#include "daemon/model/log.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace syncd::log {
namespace {
thread_local Fields current = {};
}

Fields current_fields() { return current; }

void append_json_fields(std::string& out) {
    for (const auto& field : current) {
        out += ',';
        out += boost::json::serialize(boost::json::string(field.key));
        out += ':';
        out += field.is_number ? field.value
                               : boost::json::serialize(boost::json::string(field.value));
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
