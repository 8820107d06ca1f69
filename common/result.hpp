// Errors as values: what a user can get wrong (config, job file, request)
// comes back as an Error naming the field and the problem, never an abort.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace sa {

struct Error {
    std::string message;
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error err) : v_(std::move(err)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const T& value() const& { return std::get<0>(v_); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return std::get<0>(v_); }

    const Error& error() const { return std::get<1>(v_); }
    const std::string& message() const { return std::get<1>(v_).message; }

private:
    std::variant<T, Error> v_;
};

// For operations that produce nothing but can fail.
struct Ok {};
using Status = Result<Ok>;

inline Error err(std::string msg) { return Error{std::move(msg)}; }

}  // namespace sa
