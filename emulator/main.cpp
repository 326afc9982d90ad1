// notion-emulator: a stateful local Notion API for tests, benchmarks and the demo.
#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "emulator/emulator.hpp"
#include "emulator/server.hpp"

int main(int argc, char** argv) try {
    CLI::App app{"notion-emulator: a local, stateful Notion API (see emulator/README.md)"};
    emulator::Options options;
    emulator::ServerOptions server;
    std::string fixture;
    std::string owner_token;
    app.add_option("--host", server.host, "Address to bind")->capture_default_str();
    app.add_option("--port", server.port, "Port to bind; 0 picks a free one")
        ->capture_default_str();
    app.add_option("--fixture", fixture, "Workspace to pre-load (JSON)")->check(CLI::ExistingFile);
    app.add_option("--owner-token", owner_token, "Token of the workspace owner (full access)");
    app.add_option(
        "--connection-token", options.connection_tokens,
        "Token of an internal connection; repeat for more (connection-1, connection-2, ...)");
    app.add_option("--rate-limit", options.rate_requests,
                   "Requests per connection and window; 0 = unlimited")
        ->capture_default_str();
    app.add_option("--rate-window-ms", options.rate_window_ms, "Rate limit window")
        ->capture_default_str();
    app.add_option("--workspace-rate-limit", options.workspace_requests,
                   "Requests per window for the whole workspace; 0 = unlimited")
        ->capture_default_str();
    app.add_option("--latency-ms", options.latency_fixed_ms, "Added to every response");
    app.add_option("--latency-jitter-ms", options.latency_jitter_ms, "Random extra latency, up to");
    app.add_option("--search-lag-ms", options.search_lag_ms,
                   "How long new objects stay out of search");
    app.add_option("--seed", options.seed, "Seed for ids (0 = random)");
    CLI11_PARSE(app, argc, argv);
    if (!owner_token.empty()) options.owner_token = owner_token;

    emulator::Emulator instance(options);
    if (!fixture.empty()) {
        std::ifstream in(fixture);
        std::stringstream text;
        text << in.rdbuf();
        boost::system::error_code ec;
        const auto value = boost::json::parse(text.str(), ec);
        if (ec) {
            std::cerr << "notion-emulator: " << fixture << " is not valid JSON: " << ec.message()
                      << '\n';
            return 65;
        }
        instance.workspace().load_fixture(value);
    }
    emulator::serve(instance, server);
    return 0;
} catch (const std::exception& e) {
    std::cerr << "notion-emulator: " << e.what() << '\n';
    return 1;
}
