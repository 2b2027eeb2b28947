// bench/micro/publish_micro.cpp: the producer's hot paths on a memory-only bus, one thread.
// The topic drops its oldest records (backpressure::overwrite) so that nothing ever waits
// for a consumer: what is timed is the publish itself.
#include <benchmark/benchmark.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "lanes/lanes.hpp"

namespace {

lanes::topic_config overwrite_topic() {
  lanes::topic_config c;
  c.ring_capacity = std::size_t{1} << 22;
  c.producers = lanes::producer_mode::single;
  c.policy = lanes::backpressure::overwrite;
  return c;
}

// Args: value size, key (0/1), headers (0/1).
void BM_publish(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const bool keyed = state.range(1) != 0;
  const bool with_headers = state.range(2) != 0;
  lanes::bus b;
  if (b.create_topic("t", overwrite_topic()) != lanes::errc::ok) state.SkipWithError("topic");
  lanes::producer p = b.make_producer("t");
  const std::string value(size, 'v');
  const std::array<lanes::header, 2> hs{{{"trace", "abc123"}, {"src", "web"}}};
  lanes::publish_options o;
  if (with_headers) o.headers = hs;
  const lanes::message_key key = keyed ? lanes::message_key("customer-17") : lanes::message_key();
  for (auto _ : state) {
    benchmark::DoNotOptimize(p.publish(key, value, o));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}
BENCHMARK(BM_publish)
    ->ArgNames({"bytes", "key", "headers"})
    ->Args({8, 0, 0})
    ->Args({64, 0, 0})
    ->Args({64, 1, 0})
    ->Args({64, 1, 1})
    ->Args({512, 1, 0})
    ->Args({4096, 0, 0})
    ->Args({4096, 1, 1});

void BM_publish_batch(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  lanes::bus b;
  if (b.create_topic("t", overwrite_topic()) != lanes::errc::ok) state.SkipWithError("topic");
  lanes::producer p = b.make_producer("t");
  const std::string value(64, 'v');
  std::vector<lanes::message> batch(n, lanes::message{lanes::message_key(), value, {}});
  std::vector<lanes::publish_result> results(n);
  for (auto _ : state) {
    benchmark::DoNotOptimize(p.publish_batch(batch, results));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_publish_batch)->ArgName("messages")->Arg(16)->Arg(64);

void BM_try_claim_commit(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  lanes::bus b;
  if (b.create_topic("t", overwrite_topic()) != lanes::errc::ok) state.SkipWithError("topic");
  lanes::producer p = b.make_producer("t");
  for (auto _ : state) {
    lanes::producer::claim c = p.try_claim(lanes::message_key(), size);
    if (c) std::memset(c.value.data(), 'v', c.value.size());
    benchmark::DoNotOptimize(p.commit(c));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}
BENCHMARK(BM_try_claim_commit)->ArgName("bytes")->Arg(64)->Arg(4096);

void BM_partitioner_for_key(benchmark::State& state) {
  lanes::partitioner parts(16);
  const std::string key(static_cast<std::size_t>(state.range(0)), 'k');
  for (auto _ : state) {
    benchmark::DoNotOptimize(parts.for_key(key));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_partitioner_for_key)->ArgName("key_bytes")->Arg(8)->Arg(64);

}  // namespace
