// The one translation unit that compiles Asio, Beast (with SSL) and Boost.JSON; every other file
// sees only their headers (BOOST_*_SEPARATE_COMPILATION), which keeps rebuilds fast.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <boost/json/src.hpp>
