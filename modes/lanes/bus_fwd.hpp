// lanes/bus_fwd.hpp: declarations of the bus's classes, for headers that name them before
// they are defined, and of the internal states their handles point to (modes/).
#pragma once

namespace lanes {

namespace detail {
struct topic_state;
struct partition_state;
struct group_state;
struct bus_state;
struct bus_access;  // tests reach the internals through it (defined by them)
struct queue_access;
}  // namespace detail

class bus;
class queue_consumer;          // lanes/queue.hpp
struct queue_consumer_config;  // lanes/queue.hpp
struct queue_group_stats;      // lanes/queue.hpp
struct bus_metrics;            // lanes/metrics.hpp

}  // namespace lanes
