// TLS for serve mode through OpenSSL memory BIOs: the socket stays a plain
// libuv stream, and TLS is a pure transformation of the bytes on it.
#pragma once

#include "common/result.hpp"

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

namespace sa {

struct SslCtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
};

class TlsContext {
public:
    // TLS 1.2 and newer only, with the given certificate chain and key.
    static Result<TlsContext> server(const std::string& cert_path, const std::string& key_path);
    SSL_CTX* get() const { return ctx_.get(); }

private:
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
};

class TlsSession {
public:
    explicit TlsSession(SSL_CTX* ctx);
    // Takes ciphertext from the peer; appends any plaintext it yields.
    // Errors are fatal for the connection (bad handshake, bad record).
    Status feed(const char* data, size_t n, std::string& plain);
    // Encrypts plaintext for the peer.
    Status write(std::string_view plain);
    // Ciphertext waiting to be sent (handshake and application records).
    std::string take_output();
    size_t output_pending() const;
    bool closed() const { return closed_; }

private:
    std::unique_ptr<SSL, SslFree> ssl_;
    BIO* in_ = nullptr;   // owned by ssl_
    BIO* out_ = nullptr;  // owned by ssl_
    bool closed_ = false;
};

}  // namespace sa
