#include <doctest/doctest.h>

#include "daemon/http/ca_bundle.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

using namespace sa;

TEST_SUITE("ca_bundle") {

TEST_CASE("SSL_CERT_FILE wins, even over an existing system bundle") {
    char dir[] = "/tmp/ca-bundle-test-XXXXXX";
    REQUIRE(mkdtemp(dir));
    std::string present = std::string(dir) + "/present.pem";
    FILE* f = std::fopen(present.c_str(), "w");
    REQUIRE(f);
    std::fclose(f);
    CHECK(find_ca_bundle("/my/ca.pem", {present}) == "/my/ca.pem");
    // An empty SSL_CERT_FILE is unset, as OpenSSL treats it.
    CHECK(find_ca_bundle("", {present}) == present);
    ::unlink(present.c_str());
    ::rmdir(dir);
}

TEST_CASE("the first system bundle that exists, in the documented order") {
    char dir[] = "/tmp/ca-bundle-test-XXXXXX";
    REQUIRE(mkdtemp(dir));
    std::string missing = std::string(dir) + "/debian.crt";
    std::string rhel = std::string(dir) + "/rhel.crt";
    std::string alpine = std::string(dir) + "/alpine.pem";
    for (const std::string& p : {rhel, alpine}) {
        FILE* f = std::fopen(p.c_str(), "w");
        REQUIRE(f);
        std::fclose(f);
    }
    CHECK(find_ca_bundle(nullptr, {missing, rhel, alpine}) == rhel);
    CHECK(find_ca_bundle(nullptr, {missing}).empty());
    for (const std::string& p : {rhel, alpine}) ::unlink(p.c_str());
    ::rmdir(dir);
}

TEST_CASE("SSL_CERT_DIR is the CA directory when set; unset or empty, there is none") {
    CHECK(find_ca_dir("/etc/my-cas") == "/etc/my-cas");
    CHECK(find_ca_dir("/etc/my-cas:/etc/more-cas") == "/etc/my-cas:/etc/more-cas");
    CHECK(find_ca_dir("").empty());
    CHECK(find_ca_dir(nullptr).empty());
}

TEST_CASE("the system list covers Debian, RHEL and Amazon Linux, SUSE and Alpine") {
    const std::vector<std::string>& l = kSystemCaBundles;
    REQUIRE(l.size() >= 4);
    CHECK(l.front() == "/etc/ssl/certs/ca-certificates.crt");
    auto has = [&](const char* p) { return std::find(l.begin(), l.end(), p) != l.end(); };
    CHECK(has("/etc/pki/tls/certs/ca-bundle.crt"));
    CHECK(has("/etc/ssl/ca-bundle.pem"));
    CHECK(has("/etc/ssl/cert.pem"));
}

}
