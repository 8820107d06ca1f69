#pragma once
// Which CA certificates the agent trusts for the Semaphore API.

#include <string>
#include <vector>

namespace sa {

// The system CA bundles of the distributions the release tarball runs on, in
// the order they are tried: Debian and Ubuntu, RHEL and Amazon Linux (two
// spellings), SUSE, Alpine. The portable programs carry OpenSSL's compiled-in
// directory of the build host (/usr/lib/ssl), which other distributions lack.
extern const std::vector<std::string> kSystemCaBundles;

// SSL_CERT_FILE when it is set and not empty, else the first of `candidates`
// that exists; empty when there is none (libcurl then reports the failed
// verification, naming the server).
std::string find_ca_bundle(const char* ssl_cert_file,
                           const std::vector<std::string>& candidates = kSystemCaBundles);

// SSL_CERT_DIR when it is set and not empty (OpenSSL's hashed directory, or
// several joined by ':'), for CURLOPT_CAPATH beside the bundle; empty
// otherwise. libcurl passes its own CA locations to OpenSSL, so OpenSSL never
// reads the variable itself: without this the portable build (curl
// --without-ca-path) and the packaged one (curl's compiled-in /etc/ssl/certs)
// would both ignore it.
std::string find_ca_dir(const char* ssl_cert_dir);

}  // namespace sa
