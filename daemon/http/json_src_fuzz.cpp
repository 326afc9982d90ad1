// Boost.JSON compiled into the fuzzer itself (the daemon links it from syncd_boost).
#include <boost/json/src.hpp>
