// Typed reads of a YAML mapping that remember every problem with its file:line:column and flag
// keys nobody read, so one load reports every mistake at once (STYLE §2).
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace syncd::config {

// A bad configuration: every problem, one per line ("file:line:col: what; expected …").
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Problems found so far, shared by the readers of one file.
struct Problems {
    std::string file;
    std::vector<std::string> lines;
    // Whether to check the machine too (files, directories, programs a setting names): load()
    // does, parse() of a text alone does not.
    bool check_environment = false;
    // Keys holding a secret written literally in the file (not ${ENV} nor a *_file): load()
    // refuses such a file when every user can read it.
    std::vector<std::string> literal_secrets;
    void add(const YAML::Mark& mark, const std::string& what);
    // Throws Error listing every problem, if any.
    void throw_if_any() const;
};

class SettingsReader {
public:
    SettingsReader(YAML::Node node, std::string path, std::shared_ptr<Problems> problems);

    std::optional<std::string> optional_string(const std::string& key);
    std::string required_string(const std::string& key);
    std::string string_or(const std::string& key, std::string fallback);
    bool bool_or(const std::string& key, bool fallback);
    double number_or(const std::string& key, double fallback);
    // "500ms", "30s", "5m", "6h", "1d".
    std::optional<std::chrono::milliseconds> optional_duration(const std::string& key);
    std::chrono::milliseconds duration_or(const std::string& key,
                                          std::chrono::milliseconds fallback);
    // A nested mapping (empty reader when absent).
    SettingsReader child(const std::string& key);
    bool has(const std::string& key) const;
    // A sequence of mappings.
    std::vector<SettingsReader> children(const std::string& key);
    // A sequence of strings, each with ${ENV} expanded (e.g. command: [python3, hook.py]);
    // nullopt when absent or not a sequence (a problem then).
    std::optional<std::vector<std::string>> strings(const std::string& key);
    // A mapping of string to string (e.g. mapping: {Name: title}).
    std::vector<std::pair<std::string, std::string>> string_map(const std::string& key);
    // The keys of a mapping of mappings (e.g. connectors:), each with its reader.
    std::vector<std::pair<std::string, SettingsReader>> named_children(const std::string& key);

    // The text of `key` as written, before ${ENV} expansion; nullopt when absent or not text.
    std::optional<std::string> raw_string(const std::string& key) const;
    // Records that `key` holds a secret; written literally (no ${ENV} in `raw`, default: the
    // key's own text) it makes a world-readable file an error.
    void secret(const std::string& key, std::optional<std::string> raw = std::nullopt);
    // Whether settings naming files, directories or programs are checked on this machine.
    bool checks_environment() const { return problems_->check_environment; }

    // Records a problem at this node (or at `key`).
    void problem(const std::string& what, const std::string& key = {});
    // Flags every key of this mapping that was never read.
    void finish();
    const std::string& path() const { return path_; }
    YAML::Mark mark() const { return node_.Mark(); }

private:
    YAML::Node get(const std::string& key);
    YAML::Node node_;
    std::string path_;
    std::shared_ptr<Problems> problems_;
    std::set<std::string> read_;
};

// Replaces ${NAME} with the environment variable; an unset variable is a problem.
std::string expand_environment(const std::string& text, std::string& missing);
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

}  // namespace syncd::config
