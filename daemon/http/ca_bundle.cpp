#include "daemon/http/ca_bundle.hpp"

#include <unistd.h>

namespace sa {

const std::vector<std::string> kSystemCaBundles = {
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
};

std::string find_ca_bundle(const char* ssl_cert_file, const std::vector<std::string>& candidates) {
    if (ssl_cert_file && *ssl_cert_file) return ssl_cert_file;
    for (const std::string& path : candidates)
        if (::access(path.c_str(), R_OK) == 0) return path;
    return {};
}

std::string find_ca_dir(const char* ssl_cert_dir) {
    if (ssl_cert_dir && *ssl_cert_dir) return ssl_cert_dir;
    return {};
}

}  // namespace sa
