#include "daemon/http/tls.hpp"

#include <openssl/err.h>

namespace sa {

namespace {

std::string ssl_error() {
    unsigned long e = ERR_get_error();
    if (!e) return "unknown TLS error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

}  // namespace

Result<TlsContext> TlsContext::server(const std::string& cert_path, const std::string& key_path) {
    TlsContext t;
    t.ctx_.reset(SSL_CTX_new(TLS_server_method()));
    if (!t.ctx_) return err("TLS: " + ssl_error());
    SSL_CTX_set_min_proto_version(t.ctx_.get(), TLS1_2_VERSION);
    SSL_CTX_set_options(t.ctx_.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(t.ctx_.get(), cert_path.c_str()) != 1)
        return err("tls-cert-path " + cert_path + ": " + ssl_error());
    if (SSL_CTX_use_PrivateKey_file(t.ctx_.get(), key_path.c_str(), SSL_FILETYPE_PEM) != 1)
        return err("tls-key-path " + key_path + ": " + ssl_error());
    if (SSL_CTX_check_private_key(t.ctx_.get()) != 1)
        return err("tls-key-path " + key_path + " does not match tls-cert-path " + cert_path);
    return t;
}

TlsSession::TlsSession(SSL_CTX* ctx) : ssl_(SSL_new(ctx)) {
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);  // "no data yet", not EOF
    SSL_set_bio(ssl_.get(), in_, out_);
    SSL_set_accept_state(ssl_.get());
}

Status TlsSession::feed(const char* data, size_t n, std::string& plain) {
    size_t put = 0;
    if (n > 0 && (BIO_write_ex(in_, data, n, &put) != 1 || put != n)) return err("TLS: cannot buffer input");
    char buf[16384];
    for (;;) {
        size_t got = 0;
        int r = SSL_read_ex(ssl_.get(), buf, sizeof buf, &got);
        if (r == 1) {
            plain.append(buf, got);
            continue;
        }
        int e = SSL_get_error(ssl_.get(), r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Ok{};
        if (e == SSL_ERROR_ZERO_RETURN) {
            closed_ = true;
            return Ok{};
        }
        return err("TLS: " + ssl_error());
    }
}

// SSL_write_ex takes a size_t: a reply of any size is encrypted without a
// narrowing cast (the int of SSL_write failed every reply over 2 GiB).
Status TlsSession::write(std::string_view plain) {
    while (!plain.empty()) {
        size_t done = 0;
        if (SSL_write_ex(ssl_.get(), plain.data(), plain.size(), &done) != 1 || done == 0)
            return err("TLS: " + ssl_error());
        plain.remove_prefix(done);
    }
    return Ok{};
}

size_t TlsSession::output_pending() const { return BIO_ctrl_pending(out_); }

std::string TlsSession::take_output() {
    std::string out(BIO_ctrl_pending(out_), '\0');
    size_t got = 0;
    if (!out.empty() && BIO_read_ex(out_, out.data(), out.size(), &got) != 1) got = 0;
    out.resize(got);
    return out;
}

}  // namespace sa
