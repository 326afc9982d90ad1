// Reading a control request from Beast's message (control_server.cpp and control_request.cpp
// only: Beast stays out of control_server.hpp).
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "daemon/http/control_server.hpp"

namespace syncd::http {

namespace bhttp = boost::beast::http;

ControlRequest to_control_request(const bhttp::request<bhttp::string_body>& message);

}  // namespace syncd::http
