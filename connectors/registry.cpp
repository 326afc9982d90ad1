#include <cassert>

#include "connectors/connector.hpp"

namespace syncd::connectors {

void Registry::add(const std::string& type, Validate validate, Make make) {
    const bool added =
        entries_.emplace(type, std::pair{std::move(validate), std::move(make)}).second;
    assert(added && "a connector type is registered twice");
    (void)added;
}

bool Registry::validate(const std::string& type, config::SettingsReader& settings) const {
    const auto it = entries_.find(type);
    if (it == entries_.end()) return false;
    it->second.first(settings);
    return true;
}

std::unique_ptr<Connector> Registry::create(const std::string& type,
                                            config::SettingsReader& settings,
                                            const ConnectorContext& context) const {
    const auto it = entries_.find(type);
    if (it == entries_.end()) {
        std::string known;
        for (const auto& t : types()) known += (known.empty() ? "" : ", ") + t;
        throw config::Error("unknown connector type `" + type + "` (known: " + known + ")");
    }
    return it->second.second(settings, context);
}

std::vector<std::string> Registry::types() const {
    std::vector<std::string> out;
    for (const auto& [type, entry] : entries_) out.push_back(type);
    return out;
}

}  // namespace syncd::connectors
