// The YAML entry points of the job request parser, apart from the JSON
// ones: only `run` reads YAML, so the worker (which gets JSON) does not load
// libyaml.
#include "common/job_request.hpp"
#include "common/yaml_json.hpp"

namespace sa {

Result<JobRequest> parse_job_request_yaml(std::string_view text) {
    auto root = yaml_to_json(text);
    if (!root) return root.error();
    return parse_job_request(root->get());
}

Result<JobRequest> parse_job_request_any(std::string_view text) {
    size_t i = text.find_first_not_of(" \t\r\n");
    if (i != std::string_view::npos && text[i] == '{') return parse_job_request_json(text);
    return parse_job_request_yaml(text);
}

}  // namespace sa
