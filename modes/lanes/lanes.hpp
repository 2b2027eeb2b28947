// lanes/lanes.hpp: the whole user-facing API of lanes in one include.
#pragma once

#include "lanes/bus.hpp"
#include "lanes/clock.hpp"
#include "lanes/error.hpp"
#include "lanes/frame_ring.hpp"
#include "lanes/metrics.hpp"
#include "lanes/mpmc_ring.hpp"
#include "lanes/partitioner.hpp"
#include "lanes/platform.hpp"
#include "lanes/queue.hpp"
#include "lanes/queue_config.hpp"
#include "lanes/record.hpp"
#include "lanes/spsc_ring.hpp"
#include "lanes/version.hpp"
#include "lanes/wait.hpp"
