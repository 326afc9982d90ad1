#include "config/settings_reader.hpp"

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>

namespace syncd::config {
namespace {

// "a.b" for a nested key, "b" at the top level.
std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
}

// yaml-cpp keeps both entries of a key given twice and answers lookups with the first: flags
// every repetition, since the value used may not be the one meant.
void report_duplicates(const YAML::Node& map, const std::string& path, Problems& problems) {
    std::map<std::string, YAML::Mark> first;
    for (const auto& kv : map) {
        const std::string key = kv.first.Scalar();
        const auto [it, inserted] = first.emplace(key, kv.first.Mark());
        if (!inserted) {
            problems.add(kv.first.Mark(), (path.empty() ? "" : path + ": ") + "duplicate key `" +
                                              key + "` (first on line " +
                                              std::to_string(it->second.line + 1) + ")");
        }
    }
}

}  // namespace

void Problems::add(const YAML::Mark& mark, const std::string& what) {
    std::string where = file;
    if (!mark.is_null()) {
        // Appended piece by piece: g++ 12 at -O3 reports ":" + std::string as an overlapping
        // memcpy (-Wrestrict, a false positive: GCC PR 105651).
        where += ':';
        where += std::to_string(mark.line + 1);
        where += ':';
        where += std::to_string(mark.column + 1);
    }
    lines.push_back(where + ": " + what);
}

void Problems::throw_if_any() const {
    if (lines.empty()) return;
    std::string text = "invalid configuration (" + std::to_string(lines.size()) + " problem" +
                       (lines.size() == 1 ? "" : "s") + "):";
    for (const auto& line : lines) text += "\n  " + line;
    throw Error(text);
}

std::string expand_environment(const std::string& text, std::string& missing) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
            const auto end = text.find('}', i + 2);
            if (end != std::string::npos) {
                // ${NAME:-fallback}: the fallback when NAME is unset or empty, as in sh.
                std::string name = text.substr(i + 2, end - i - 2);
                std::optional<std::string> fallback;
                if (const auto dash = name.find(":-"); dash != std::string::npos) {
                    fallback = name.substr(dash + 2);
                    name.resize(dash);
                }
                const char* value = std::getenv(name.c_str());
                if (value != nullptr && (*value != '\0' || !fallback)) {
                    out += value;
                } else if (fallback) {
                    out += *fallback;
                } else {
                    missing = name;
                }
                i = end;
                continue;
            }
        }
        out.push_back(text[i]);
    }
    return out;
}

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
    std::size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    const std::string unit = text.substr(used);
    double ms = 0;
    if (unit == "ms")
        ms = value;
    else if (unit == "s")
        ms = value * 1e3;
    else if (unit == "m")
        ms = value * 60e3;
    else if (unit == "h")
        ms = value * 3600e3;
    else if (unit == "d")
        ms = value * 86400e3;
    else
        return std::nullopt;
    // Also refuses "infs", "nans" and values past what milliseconds hold (~292 million years).
    if (!std::isfinite(ms) || ms < 0 || ms > 9e18) return std::nullopt;
    return std::chrono::milliseconds(static_cast<long long>(ms));
}

SettingsReader::SettingsReader(YAML::Node node, std::string path,
                               std::shared_ptr<Problems> problems)
    : node_(std::move(node)), path_(std::move(path)), problems_(std::move(problems)) {
    if (node_ && !node_.IsNull() && !node_.IsMap()) {
        problems_->add(node_.Mark(), (path_.empty() ? "the file" : path_) +
                                         " should be a mapping (key: value lines)");
        node_ = YAML::Node(YAML::NodeType::Map);
    }
}

bool SettingsReader::has(const std::string& key) const {
    return node_ && node_.IsMap() && node_[key] && !node_[key].IsNull();
}

YAML::Node SettingsReader::get(const std::string& key) {
    read_.insert(key);
    if (!node_ || !node_.IsMap()) return {};
    return node_[key];
}

std::optional<std::string> SettingsReader::raw_string(const std::string& key) const {
    if (!node_ || !node_.IsMap()) return std::nullopt;
    const YAML::Node n = node_[key];
    if (!n || !n.IsScalar()) return std::nullopt;
    return n.Scalar();
}

void SettingsReader::secret(const std::string& key, std::optional<std::string> raw) {
    if (!raw) raw = raw_string(key);
    if (raw && !raw->empty() && raw->find("${") == std::string::npos)
        problems_->literal_secrets.push_back(key.empty() ? path_ : join(path_, key));
}

void SettingsReader::problem(const std::string& what, const std::string& key) {
    const YAML::Node at =
        key.empty() || !node_ || !node_.IsMap() || !node_[key] ? node_ : node_[key];
    problems_->add(at ? at.Mark() : YAML::Mark::null_mark(),
                   (key.empty() ? path_ : join(path_, key)) + ": " + what);
}

std::optional<std::string> SettingsReader::optional_string(const std::string& key) {
    const YAML::Node n = get(key);
    if (!n || n.IsNull()) return std::nullopt;
    if (!n.IsScalar()) {
        problem("expected a string", key);
        return std::nullopt;
    }
    std::string missing;
    std::string value = expand_environment(n.Scalar(), missing);
    if (!missing.empty()) {
        std::string hint;
        if (missing == "CREDENTIALS_DIRECTORY") {
            hint =
                " (systemd sets it for the service from LoadCredential=; outside the service "
                "write ${CREDENTIALS_DIRECTORY:-/etc/notion-syncd}, which falls back to the "
                "credential's source directory)";
        } else {
            hint = " (export it, or give a fallback: ${" + missing + ":-value})";
        }
        problem("environment variable " + missing + " is not set" + hint, key);
        return std::nullopt;
    }
    return value;
}

std::string SettingsReader::required_string(const std::string& key) {
    if (!has(key)) {
        read_.insert(key);
        problems_->add(node_ ? node_.Mark() : YAML::Mark::null_mark(),
                       path_ + ": missing required key `" + key + "`");
        return {};
    }
    return optional_string(key).value_or("");
}

std::string SettingsReader::string_or(const std::string& key, std::string fallback) {
    return optional_string(key).value_or(std::move(fallback));
}

bool SettingsReader::bool_or(const std::string& key, bool fallback) {
    const YAML::Node n = get(key);
    if (!n || n.IsNull()) return fallback;
    try {
        return n.as<bool>();
    } catch (const YAML::Exception&) {
        problem(
            "expected true or false, got `" + (n.IsScalar() ? n.Scalar() : std::string("…")) + "`",
            key);
        return fallback;
    }
}

double SettingsReader::number_or(const std::string& key, double fallback) {
    const YAML::Node n = get(key);
    if (!n || n.IsNull()) return fallback;
    try {
        return n.as<double>();
    } catch (const YAML::Exception&) {
        problem("expected a number, got `" + (n.IsScalar() ? n.Scalar() : std::string("…")) + "`",
                key);
        return fallback;
    }
}

std::optional<std::chrono::milliseconds> SettingsReader::optional_duration(const std::string& key) {
    const auto text = optional_string(key);
    if (!text) return std::nullopt;
    const auto d = parse_duration(*text);
    if (!d) problem("expected a duration such as 30s, 5m, 6h or 1d, got `" + *text + "`", key);
    return d;
}

std::chrono::milliseconds SettingsReader::duration_or(const std::string& key,
                                                      std::chrono::milliseconds fallback) {
    return optional_duration(key).value_or(fallback);
}

SettingsReader SettingsReader::child(const std::string& key) {
    return SettingsReader(get(key), join(path_, key), problems_);
}

std::vector<SettingsReader> SettingsReader::children(const std::string& key) {
    std::vector<SettingsReader> out;
    const YAML::Node n = get(key);
    if (!n || n.IsNull()) return out;
    if (!n.IsSequence()) {
        problem("expected a list (lines starting with -)", key);
        return out;
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
        out.emplace_back(n[i], join(path_, key) + "[" + std::to_string(i) + "]", problems_);
    }
    return out;
}

std::optional<std::vector<std::string>> SettingsReader::strings(const std::string& key) {
    const YAML::Node n = get(key);
    if (!n || n.IsNull()) return std::nullopt;
    if (!n.IsSequence()) {
        problem("expected a list of strings", key);
        return std::nullopt;
    }
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n.size(); ++i) {
        const std::string where = join(path_, key) + "[" + std::to_string(i) + "]";
        if (!n[i].IsScalar()) {
            problems_->add(n[i].Mark(), where + ": expected a string");
            continue;
        }
        std::string missing;
        out.push_back(expand_environment(n[i].Scalar(), missing));
        if (!missing.empty())
            problems_->add(n[i].Mark(),
                           where + ": environment variable " + missing + " is not set");
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> SettingsReader::string_map(
    const std::string& key) {
    std::vector<std::pair<std::string, std::string>> out;
    const YAML::Node n = get(key);
    if (!n || n.IsNull()) return out;
    if (!n.IsMap()) {
        problem("expected a mapping of names to names", key);
        return out;
    }
    report_duplicates(n, join(path_, key), *problems_);
    for (const auto& kv : n) {
        if (!kv.second.IsScalar()) {
            problems_->add(kv.second.Mark(),
                           join(join(path_, key), kv.first.Scalar()) + ": expected a string");
            continue;
        }
        out.emplace_back(kv.first.Scalar(), kv.second.Scalar());
    }
    return out;
}

std::vector<std::pair<std::string, SettingsReader>> SettingsReader::named_children(
    const std::string& key) {
    std::vector<std::pair<std::string, SettingsReader>> out;
    const YAML::Node n = get(key);
    if (!n || n.IsNull()) return out;
    if (!n.IsMap()) {
        problem("expected a mapping of names to settings", key);
        return out;
    }
    report_duplicates(n, join(path_, key), *problems_);
    for (const auto& kv : n) {
        out.emplace_back(
            kv.first.Scalar(),
            SettingsReader(kv.second, join(join(path_, key), kv.first.Scalar()), problems_));
    }
    return out;
}

void SettingsReader::finish() {
    if (!node_ || !node_.IsMap()) return;
    report_duplicates(node_, path_, *problems_);
    for (const auto& kv : node_) {
        const std::string key = kv.first.Scalar();
        if (!read_.contains(key)) {
            std::string known;
            for (const auto& k : read_) known += (known.empty() ? "" : ", ") + k;
            problems_->add(kv.first.Mark(),
                           (path_.empty() ? "" : path_ + ": ") + "unknown key `" + key + "`" +
                               (known.empty() ? "" : " (expected one of: " + known + ")"));
        }
    }
}

}  // namespace syncd::config
