// bench/kafka_mock_cluster.cpp: see kafka_mock_cluster.hpp.
#include "kafka_mock_cluster.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdlib>
#include <filesystem>

#include "bench_common.hpp"

namespace lanes_bench {

rd_kafka_t* client(rd_kafka_type_t type,
                   const std::vector<std::pair<std::string, std::string>>& props,
                   const std::function<void(rd_kafka_conf_t*)>& setup) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      die(err);
  }
  if (setup) setup(conf);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) die(err);
  return rk;
}

cluster::cluster(int partitions_each) : partitions(partitions_each) {
  host = client(RD_KAFKA_PRODUCER, {{"log_level", "0"}});
  mock = rd_kafka_mock_cluster_new(host, 1);
  if (mock == nullptr) die("the mock cluster did not start");
  bootstrap = rd_kafka_mock_cluster_bootstraps(mock);
  if (!std::getenv("KAFKA_BENCH_NAGLE")) no_delay_on_listeners();
}

// A real Kafka broker sets TCP_NODELAY on its connections (SocketServer); librdkafka 2.0.2's
// mock broker does not, so a response written in pieces waits for the client's delayed ACK
// (~40 ms): measured, 2 of 4 ListOffsets requests took 40 ms each. Linux copies
// TCP_NODELAY from a listening socket to the sockets it accepts, so it is set on the
// mock's listeners, found among this process's descriptors by their port.
void cluster::no_delay_on_listeners() const {
  const std::string port = bootstrap.substr(bootstrap.rfind(':') + 1);
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::atoi(e.path().filename().c_str());
    sockaddr_in a{};
    socklen_t len = sizeof a;
    int listening = 0;
    socklen_t ll = sizeof listening;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || a.sin_family != AF_INET ||
        std::to_string(ntohs(a.sin_port)) != port ||
        ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) != 0 || !listening)
      continue;
    const int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
      die("cannot set TCP_NODELAY on the mock broker's listener");
    return;
  }
  die("the mock broker's listening socket (port " + port + ") was not found");
}

cluster::~cluster() {
  rd_kafka_mock_cluster_destroy(mock);
  rd_kafka_destroy(host);
}

std::string cluster::topic() {
  const std::string name = "t" + std::to_string(next++);
  if (rd_kafka_mock_topic_create(mock, name.c_str(), partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR)
    die("cannot create " + name);
  return name;
}

}  // namespace lanes_bench
