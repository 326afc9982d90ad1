// Log lines with structured fields (job, data source, target, counts, route, status, duration):
// `--log-format json` writes each field as a key of the line's object; the human formats show the
// message only (which says the same in words). Fields live only for the synchronous spdlog call
// that formats them, so coroutines interleaving on one thread cannot mix them up.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace syncd::log {

struct Field {
    Field(std::string_view key_, std::string_view text) : key(key_), value(text) {}
    Field(std::string_view key_, const std::string& text) : key(key_), value(text) {}
    Field(std::string_view key_, const char* text) : key(key_), value(text) {}
    template <std::integral Number>
    Field(std::string_view key_, Number number)
        : key(key_), value(std::to_string(number)), is_number(true) {}

    std::string_view key;
    std::string value;
    bool is_number = false;
};

using Fields = std::initializer_list<Field>;

// The fields of the line being formatted now (empty outside a log call of this header).
Fields current_fields();

// Appends `,"key":value…` for the current fields (JSON-escaped) to `out`.
void append_json_fields(std::string& out);

// Milliseconds since `start` (a duration field).
std::int64_t ms_since(std::chrono::steady_clock::time_point start);

namespace detail {
class Scope {
public:
    explicit Scope(Fields fields);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

private:
    Fields previous_;
};
}  // namespace detail

template <typename... Args>
void write(spdlog::level::level_enum level, Fields fields, spdlog::format_string_t<Args...> format,
           Args&&... args) {
    if (!spdlog::should_log(level)) return;
    detail::Scope scope(fields);
    spdlog::log(level, format, std::forward<Args>(args)...);
}

template <typename... Args>
void debug(Fields fields, spdlog::format_string_t<Args...> format, Args&&... args) {
    write(spdlog::level::debug, fields, format, std::forward<Args>(args)...);
}
template <typename... Args>
void info(Fields fields, spdlog::format_string_t<Args...> format, Args&&... args) {
    write(spdlog::level::info, fields, format, std::forward<Args>(args)...);
}
template <typename... Args>
void warn(Fields fields, spdlog::format_string_t<Args...> format, Args&&... args) {
    write(spdlog::level::warn, fields, format, std::forward<Args>(args)...);
}
template <typename... Args>
void error(Fields fields, spdlog::format_string_t<Args...> format, Args&&... args) {
    write(spdlog::level::err, fields, format, std::forward<Args>(args)...);
}

}  // namespace syncd::log
