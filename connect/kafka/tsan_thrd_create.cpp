// connect/kafka/tsan_thrd_create.cpp: thrd_create and thrd_join for ThreadSanitizer, built into
// each program that links lanes::kafka, under ThreadSanitizer only (connect/kafka/CMakeLists.txt).
//
// librdkafka starts its threads with C11 thrd_create. glibc implements it without going
// through the pthread_create symbol, and GCC 12's TSan runtime intercepts pthread_create but
// not thrd_create, so TSan never sets up librdkafka's threads and crashes in them (SEGV in the
// runtime on the first intercepted call). This definition, exported by the program, takes the
// place of glibc's for librdkafka: the same thread, started through pthread_create. glibc's
// thrd_t is a pthread_t and its thrd_join is pthread_join, so nothing else changes.
#include <pthread.h>

#include <cerrno>
#include <cstdint>
#include <new>

namespace {

struct thread_start {
  int (*func)(void*);
  void* arg;
};

void* run_c11_thread(void* p) {
  const thread_start s = *static_cast<thread_start*>(p);
  delete static_cast<thread_start*>(p);
  return reinterpret_cast<void*>(static_cast<std::intptr_t>(s.func(s.arg)));
}

// glibc's <threads.h> values.
constexpr int thrd_success = 0;
constexpr int thrd_error = 2;
constexpr int thrd_nomem = 3;

}  // namespace

extern "C" int thrd_create(pthread_t* thread, int (*func)(void*), void* arg) {
  auto* s = new (std::nothrow) thread_start{func, arg};
  if (s == nullptr) return thrd_nomem;
  const int e = pthread_create(thread, nullptr, &run_c11_thread, s);
  if (e == 0) return thrd_success;
  delete s;
  return e == ENOMEM ? thrd_nomem : thrd_error;
}

// And joined through pthread_join, which TSan also intercepts (else it reports every librdkafka
// thread as leaked).
extern "C" int thrd_join(pthread_t thread, int* result) {
  void* r = nullptr;
  if (pthread_join(thread, &r) != 0) return thrd_error;
  if (result != nullptr) *result = static_cast<int>(reinterpret_cast<std::intptr_t>(r));
  return thrd_success;
}
