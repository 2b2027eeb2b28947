#!/usr/bin/env bash
# tools/setup.sh: installs the Debian 12 (bookworm) packages that building, testing and
# benchmarking lanes need. Installs only what is missing; runs `apt-get update` only then.
# Safe to run again and again; tools/run.sh and tools/test.sh call it first.
set -euo pipefail

# The one list of system packages. One group per line, each with what it is for.
packages=(
  # toolchain and build
  build-essential g++ cmake pkg-config git python3
  # libraries lanes itself links or includes
  liburing-dev libxxhash-dev
  # tests and command line tools
  libgtest-dev libgmock-dev libcli11-dev
  # benchmarks: the harness and the peers run side by side (see shared BENCHMARKING.md)
  libbenchmark-dev libboost-dev libreaderwriterqueue-dev libconcurrentqueue-dev
  libatomic-queue-dev libtbb-dev libzmq3-dev
  # benchmark tooling: disk limits and plots
  fio gnuplot-nox
  # sanitizer and fuzz builds with clang, and the format check (.clang-format)
  clang libclang-rt-14-dev clang-format
  # connect/: the Kafka bridge (librdkafka, its mock cluster; kcat as an outside client in tests)
  librdkafka-dev kcat
  # connect/: PostgreSQL change data capture (libpq; a PostgreSQL 15 server the tests start
  # in a temporary directory, and pg_recvlogical for the benchmark)
  libpq-dev postgresql-15 postgresql-client-15
  # JSON documents (CDC envelopes, tool output) and Prometheus metrics (lanes::prometheus)
  nlohmann-json3-dev prometheus-cpp-dev
  # packaging: cpack -G DEB and the test that inspects the package
  dpkg-dev file
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
