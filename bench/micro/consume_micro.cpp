// bench/micro/consume_micro.cpp: the consumer's hot paths, one thread: poll per record, and
// a queue's receive + ack per message. Each round publishes a burst (not timed) and then
// reads it back (timed), so the reader always finds records.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "lanes/lanes.hpp"

namespace {

constexpr std::size_t burst = 256;

// Publishes `burst` copies of `value`, with the clock paused.
void publish_burst(benchmark::State& state, lanes::producer& p, const std::string& value) {
  state.PauseTiming();
  for (std::size_t i = 0; i < burst; ++i) (void)p.publish(lanes::message_key(), value);
  state.ResumeTiming();
}

void BM_poll_per_record(benchmark::State& state) {
  lanes::bus b;
  lanes::topic_config c;
  c.ring_capacity = std::size_t{1} << 22;
  c.producers = lanes::producer_mode::single;
  if (b.create_topic("t", c) != lanes::errc::ok) state.SkipWithError("topic");
  lanes::producer p = b.make_producer("t");
  lanes::consumer_config cc;
  cc.max_poll_records = burst;
  lanes::consumer con = b.make_consumer(cc);
  if (con.assign(std::vector<lanes::topic_partition>{{"t", 0}}) != lanes::errc::ok) {
    state.SkipWithError("assign");
  }
  const std::string value(static_cast<std::size_t>(state.range(0)), 'v');
  std::size_t records = 0;
  for (auto _ : state) {
    publish_burst(state, p, value);
    std::size_t got = 0;
    while (got < burst) {
      const lanes::poll_result r = con.poll();
      for (const lanes::record_view& rec : r.records) benchmark::DoNotOptimize(rec.value.data());
      got += r.records.size();
    }
    records += got;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(records));
}
BENCHMARK(BM_poll_per_record)->ArgName("bytes")->Arg(64)->Arg(1024);

void BM_queue_receive_ack(benchmark::State& state) {
  lanes::bus b;
  lanes::topic_config c;
  c.mode = lanes::topic_mode::queue;
  c.ring_capacity = std::size_t{1} << 22;
  if (b.create_topic("q", c) != lanes::errc::ok) state.SkipWithError("topic");
  lanes::producer p = b.make_producer("q");
  lanes::queue_consumer_config qc;
  qc.topic = "q";
  qc.max_receive = 64;
  lanes::queue_consumer q = b.make_queue_consumer(qc);
  const std::string value(64, 'v');
  std::size_t messages = 0;
  for (auto _ : state) {
    publish_burst(state, p, value);
    std::size_t got = 0;
    while (got < burst) {
      const lanes::receive_result r = q.receive(64);
      for (const lanes::queue_message& m : r.messages) (void)q.ack(m.receipt);
      got += r.messages.size();
    }
    messages += got;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(messages));
}
BENCHMARK(BM_queue_receive_ack);

}  // namespace
