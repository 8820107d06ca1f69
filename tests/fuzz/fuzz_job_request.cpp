// The job request parser on arbitrary JSON and YAML: never crashes, and
// whatever parses survives a round trip unchanged.
#include "common/job_request.hpp"

#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto job = sa::parse_job_request_any(text);
    if (job) {
        std::string once = sa::job_request_to_json(*job);
        auto again = sa::parse_job_request_json(once);
        if (!again || sa::job_request_to_json(*again) != once) std::abort();
    }
    (void)sa::parse_job_request_yaml(text);
    return 0;
}
