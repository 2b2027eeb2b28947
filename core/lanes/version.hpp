// lanes/version.hpp
#pragma once

#define LANES_VERSION_MAJOR 0
#define LANES_VERSION_MINOR 1
#define LANES_VERSION_PATCH 0

namespace lanes {
inline constexpr const char* version_string = "0.1.0";
}
