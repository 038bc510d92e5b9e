// offload(pool, fn): runs blocking work (Argon2, scans, file I/O) on a
// thread pool from an Asio coroutine and resumes the coroutine on its own
// executor with the result; an exception thrown by fn is rethrown there.
//
//   auto job = [&] { return expensive(); };
//   auto result = co_await offload(pool, std::move(job));
//
// GCC 12 destroys a lambda (or braced aggregate) that is a prvalue operand of
// a co_await expression twice. Never write co_await offload(ex, [..]{...}):
// name the lambda first and pass it with std::move.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <type_traits>
#include <utility>

namespace privstack {

// R must be default-constructible (it is built before fn runs, so an
// exception can be delivered with a value of that type).
template <class F>
auto offload(boost::asio::any_io_executor pool, F fn) {
  namespace asio = boost::asio;
  using R = std::invoke_result_t<F&>;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, R)>(
      [pool](auto handler, F f) {
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        asio::post(pool, [f = std::move(f), handler = std::move(handler), work = std::move(work)]() mutable {
          std::exception_ptr error;
          R result{};
          try {
            result = f();
          } catch (...) {
            error = std::current_exception();
          }
          auto home = work.get_executor();
          asio::post(home, [handler = std::move(handler), error, result = std::move(result)]() mutable {
            std::move(handler)(error, std::move(result));
          });
        });
      },
      asio::use_awaitable, std::move(fn));
}

}  // namespace privstack
