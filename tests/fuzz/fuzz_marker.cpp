// The marker scanner on arbitrary PTY bytes: never crashes, and output plus
// what it holds back never exceeds what went in.
#include "worker/marker.hpp"

#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    sa::MarkerScanner m("00112233");
    m.begin();
    std::string out;
    size_t pos = 0;
    while (pos < size && !m.done()) {
        size_t n = 1 + data[pos] % 17;
        if (pos + n > size) n = size - pos;
        m.feed(std::string_view(reinterpret_cast<const char*>(data + pos), n), out);
        pos += n;
    }
    if (out.size() > size) std::abort();
    if (m.done() && (m.exit_code() < 0 || m.exit_code() > 9999)) std::abort();
    return 0;
}
