// connect/kafka/tsan_c11_threads.cpp: C11 <threads.h> (threads, mutexes, condition variables,
// call_once) on top of the pthread functions, built into each program that links lanes::kafka,
// under ThreadSanitizer only (connect/kafka/CMakeLists.txt).
//
// librdkafka is built with C11 threads. glibc implements thrd_create, mtx_lock, cnd_wait and
// call_once by calling its internal pthread functions directly, not through the exported
// pthread_* symbols, and GCC 12's TSan runtime intercepts only those exported symbols. Without
// this file TSan therefore
//   - never sets up librdkafka's threads and crashes in them (SEGV in the runtime on the first
//     intercepted call), and
//   - never sees librdkafka lock or signal anything, so every message handed from a librdkafka
//     thread to the application through its locked queues is reported as a data race (CI saw
//     this in the Kafka tests: the poll thread reading rd_kafka_message_t fields written by
//     'rdk:broker1').
// The definitions below, exported by the program, take the place of glibc's for librdkafka:
// the same operations, done through the intercepted pthread functions. glibc's thrd_t is a
// pthread_t, mtx_t and cnd_t have the layout of pthread_mutex_t and pthread_cond_t, and
// once_flag that of pthread_once_t, so the casts below are the ones glibc itself makes.
#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <new>

static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t));
static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t));
static_assert(sizeof(once_flag) == sizeof(pthread_once_t));

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

pthread_mutex_t* as_pthread(mtx_t* m) { return reinterpret_cast<pthread_mutex_t*>(m); }
pthread_cond_t* as_pthread(cnd_t* c) { return reinterpret_cast<pthread_cond_t*>(c); }

int c11_result(int pthread_error) {
  switch (pthread_error) {
    case 0: return thrd_success;
    case ENOMEM: return thrd_nomem;
    case EBUSY: return thrd_busy;
    case ETIMEDOUT: return thrd_timedout;
    default: return thrd_error;
  }
}

}  // namespace

extern "C" {

int thrd_create(thrd_t* thread, thrd_start_t func, void* arg) {
  auto* s = new (std::nothrow) thread_start{func, arg};
  if (s == nullptr) return thrd_nomem;
  const int e = pthread_create(thread, nullptr, &run_c11_thread, s);
  if (e != 0) delete s;
  return c11_result(e);
}

// Joined through pthread_join, which TSan also intercepts (else it reports every librdkafka
// thread as leaked).
int thrd_join(thrd_t thread, int* result) {
  void* r = nullptr;
  if (pthread_join(thread, &r) != 0) return thrd_error;
  if (result != nullptr) *result = static_cast<int>(reinterpret_cast<std::intptr_t>(r));
  return thrd_success;
}

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if ((type & mtx_recursive) != 0) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  const int e = pthread_mutex_init(as_pthread(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return c11_result(e);
}

int mtx_lock(mtx_t* m) { return c11_result(pthread_mutex_lock(as_pthread(m))); }
int mtx_trylock(mtx_t* m) { return c11_result(pthread_mutex_trylock(as_pthread(m))); }
int mtx_timedlock(mtx_t* m, const struct timespec* until) {
  return c11_result(pthread_mutex_timedlock(as_pthread(m), until));
}
int mtx_unlock(mtx_t* m) { return c11_result(pthread_mutex_unlock(as_pthread(m))); }
void mtx_destroy(mtx_t* m) { pthread_mutex_destroy(as_pthread(m)); }

int cnd_init(cnd_t* c) { return c11_result(pthread_cond_init(as_pthread(c), nullptr)); }
int cnd_signal(cnd_t* c) { return c11_result(pthread_cond_signal(as_pthread(c))); }
int cnd_broadcast(cnd_t* c) { return c11_result(pthread_cond_broadcast(as_pthread(c))); }
int cnd_wait(cnd_t* c, mtx_t* m) {
  return c11_result(pthread_cond_wait(as_pthread(c), as_pthread(m)));
}
// C11 deadlines are TIME_UTC, the clock a default pthread condition variable waits on.
int cnd_timedwait(cnd_t* c, mtx_t* m, const struct timespec* until) {
  return c11_result(pthread_cond_timedwait(as_pthread(c), as_pthread(m), until));
}
void cnd_destroy(cnd_t* c) { pthread_cond_destroy(as_pthread(c)); }

void call_once(once_flag* flag, void (*func)(void)) {
  pthread_once(reinterpret_cast<pthread_once_t*>(flag), func);
}

}  // extern "C"
