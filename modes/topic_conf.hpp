// modes/topic_conf.hpp: a topic's configuration file, <data_dir>/<topic>/topic.conf
// (io/FORMAT.md, "Directory layout"): one "key=value" line per topic_config field, written
// when the topic is created and read back when the data directory is opened.
#pragma once

#include <string>

#include "lanes/config.hpp"

namespace lanes::detail {

std::string encode_topic_config(const topic_config& c);
// Unknown keys are ignored and missing ones keep their defaults; false on a malformed line.
bool decode_topic_config(const std::string& text, topic_config& out);

}  // namespace lanes::detail
