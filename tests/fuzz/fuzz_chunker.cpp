// The output chunker: whatever the bytes and however they are split, every
// chunk is valid UTF-8 of at most 4 KiB, and the chunks rejoin to the same
// text as the unsplit input gives.
#include "worker/chunker.hpp"

#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct Sink : sa::ChunkSink {
    std::string all;
    void chunk(std::string_view t) override {
        if (t.size() > sa::Chunker::kMaxChunk) std::abort();
        size_t i = 0;
        while (i < t.size()) {  // strict UTF-8 check
            unsigned char c = static_cast<unsigned char>(t[i]);
            size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
            if (!len || i + len > t.size()) std::abort();
            for (size_t k = 1; k < len; k++)
                if ((static_cast<unsigned char>(t[i + k]) & 0xC0) != 0x80) std::abort();
            i += len;
        }
        all.append(t);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    Sink whole, split;
    {
        sa::Chunker c(whole);
        c.push(in, 0);
        c.finish();
    }
    {
        sa::Chunker c(split);
        long long t = 0;
        size_t pos = 0;
        while (pos < in.size()) {
            size_t n = 1 + static_cast<unsigned char>(in[pos]) % 13;
            c.push(in.substr(pos, n), t);
            pos += n;
            t += 60;
            c.tick(t);
        }
        c.finish();
    }
    if (whole.all != split.all) std::abort();
    return 0;
}
