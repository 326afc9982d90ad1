// The emulator's HTTP/1.1 server on Beast: keep-alive sessions, latency and transport faults,
// and the webhook sender. One io_context thread; the Emulator is only touched from it.
#pragma once

#include <cstdint>
#include <string>

namespace emulator {

class Emulator;

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
};

// Binds, prints {"port":N} on stdout, and serves until SIGINT or SIGTERM.
void serve(Emulator& emulator, const ServerOptions& options);

}  // namespace emulator
