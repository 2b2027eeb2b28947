// tools/kafka_mock.cpp: `lanes-kafka-mock`, librdkafka's mock Kafka cluster as a program, so
// that clients in other processes (kcat, `lanes mirror`) have a Kafka protocol peer:
//   lanes-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...
// prints the bootstrap address on the first line of stdout and runs until SIGTERM or SIGINT.
// Exit codes: 0 stopped by a signal, 1 the cluster could not start, 2 usage.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"lanes-kafka-mock: librdkafka's mock Kafka cluster, for tests", "lanes-kafka-mock"};
  int brokers = 1;
  std::vector<std::string> topics;
  app.add_option("--brokers", brokers, "Number of brokers")->check(CLI::Range(1, 32));
  app.add_option("--topic", topics, "Create topic NAME:PARTITIONS (repeatable)");
  CLI11_PARSE(app, argc, argv);

  // Block the stop signals before librdkafka starts its threads, so that sigwait gets them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (host == nullptr) {
    std::fprintf(stderr, "lanes-kafka-mock: error: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(host, brokers);
  if (cluster == nullptr) {
    std::fprintf(stderr, "lanes-kafka-mock: error: the mock cluster did not start\n");
    return 1;
  }
  for (const std::string& t : topics) {
    const auto colon = t.rfind(':');
    int partitions = 0;
    try {
      partitions = colon == std::string::npos ? 0 : std::stoi(t.substr(colon + 1));
    } catch (const std::exception&) {
    }
    if (partitions < 1) {
      std::fprintf(stderr, "lanes-kafka-mock: error: --topic: expected NAME:PARTITIONS, got '%s'\n",
                   t.c_str());
      return 2;
    }
    const rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(cluster, t.substr(0, colon).c_str(),
                                                             partitions, brokers < 3 ? brokers : 3);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "lanes-kafka-mock: error: creating topic %s: %s\n", t.c_str(),
                   rd_kafka_err2str(e));
      return 1;
    }
  }
  std::printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(host);
  return 0;
}
