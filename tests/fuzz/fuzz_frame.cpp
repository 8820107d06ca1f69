// The frame decoder on arbitrary bytes fed in arbitrary pieces: frames come
// out whole or the decoder fails; it never crashes or over-reads.
#include "common/frame.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    sa::FrameDecoder d;
    size_t pos = 0, step = size ? (data[0] % 7) + 1 : 1;
    while (pos < size) {
        size_t n = std::min(step, size - pos);
        d.feed(reinterpret_cast<const char*>(data + pos), n);
        pos += n;
        while (auto f = d.next())
            if (f->payload.size() > sa::frame_max_payload(f->type)) std::abort();
    }
    return 0;
}
