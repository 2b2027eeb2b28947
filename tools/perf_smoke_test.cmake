# tools/perf_smoke_test.cmake: ctest driver for `lanes perf`, run as
#   cmake -DLANES=<path to the lanes binary> -DMODE=json|queue|usage -P perf_smoke_test.cmake
# MODE json:  a short run with --json exits 0 and prints one JSON object with the expected
#             keys and counts (parsed with string(JSON), not grepped).
# MODE queue: the same with --mode queue (every message received and acked once).
# MODE usage: usage errors (unknown flag, bad choice, --durability without --data-dir) exit 2.
cmake_minimum_required(VERSION 3.25)

if(NOT DEFINED LANES OR NOT DEFINED MODE)
  message(FATAL_ERROR "perf_smoke_test.cmake: -DLANES=... and -DMODE=json|usage are required")
endif()

# expect_json_values(<json> <check>...): each check is "<path>=<value>", the path being keys
# and array indexes joined by "/"; fails the test unless the JSON holds that value there.
function(expect_json_values json)
  foreach(check IN LISTS ARGN)
    string(REPLACE "=" ";" parts "${check}")
    list(POP_BACK parts want)
    string(REPLACE "/" ";" parts "${parts}")
    string(JSON value ERROR_VARIABLE json_error GET "${json}" ${parts})
    if(json_error OR NOT value STREQUAL want)
      message(FATAL_ERROR "JSON '${parts}' is '${value}', want '${want}' ${json_error}\n${json}")
    endif()
  endforeach()
endfunction()

if(MODE STREQUAL "json")
  set(count 20000)
  execute_process(COMMAND "${LANES}" perf --count ${count} --partitions 2 --json
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 240)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "lanes perf exited ${rc}, want 0\nstdout:\n${out}\nstderr:\n${err}")
  endif()
  # Every path must exist; string(JSON) fails on a missing key or on invalid JSON.
  foreach(path
      "commit" "compiler" "cpu" "date" "config;partitions" "config;message_size"
      "producer;msgs_per_s" "producer;mib_per_s" "producer;elapsed_s" "elapsed_s"
      "groups;0;group" "groups;0;msgs_per_s" "groups;0;latency_us;p50"
      "latency_us;p50" "latency_us;p99" "latency_us;p99_9" "latency_us;max")
    string(REPLACE ";" " " shown "${path}")
    string(JSON value ERROR_VARIABLE json_error GET "${out}" ${path})
    if(json_error)
      message(FATAL_ERROR "JSON key '${shown}': ${json_error}\nstdout:\n${out}")
    endif()
  endforeach()
  # And the counts must add up.
  expect_json_values("${out}" "status=ok" "messages=${count}" "groups/0/messages=${count}"
                     "groups/0/missing=0" "groups/0/order_errors=0" "latency_us/count=${count}")
  message(STATUS "lanes perf --json: ok")
elseif(MODE STREQUAL "queue")
  # --mode queue: competing consumers receive and ack every message exactly once.
  set(count 20000)
  execute_process(COMMAND "${LANES}" perf --mode queue --count ${count} --partitions 2
                          --consumers 2 --json
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 240)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "lanes perf --mode queue exited ${rc}, want 0\nstdout:\n${out}\n"
                        "stderr:\n${err}")
  endif()
  expect_json_values("${out}" "status=ok" "config/mode=queue" "messages=${count}"
                     "groups/0/messages=${count}" "groups/0/missing=0" "groups/0/duplicates=0"
                     "groups/0/order_errors=0")
  # A queue topic is one queue.
  execute_process(COMMAND "${LANES}" perf --mode queue --groups 2
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
  if(NOT rc EQUAL 2)
    message(FATAL_ERROR "lanes perf --mode queue --groups 2: exit ${rc}, want 2\n${err}")
  endif()
  message(STATUS "lanes perf --mode queue: ok")
elseif(MODE STREQUAL "usage")
  foreach(case "--no-such-flag" "--keys=sometimes" "--count=0" "--message-size=8"
               "--durability=sync" "--durability=fast")
    execute_process(COMMAND "${LANES}" perf ${case}
                    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
    if(NOT rc EQUAL 2)
      message(FATAL_ERROR "lanes perf ${case}: exit ${rc}, want 2\n${out}\n${err}")
    endif()
    if(err STREQUAL "")
      message(FATAL_ERROR "lanes perf ${case}: exit 2 but no message on stderr")
    endif()
  endforeach()
  message(STATUS "lanes perf usage errors: exit 2")
else()
  message(FATAL_ERROR "perf_smoke_test.cmake: unknown MODE '${MODE}'")
endif()
