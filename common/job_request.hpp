// The job request Semaphore sends (protocol.md section 3), parsed from JSON
// (the API, serve mode) or YAML (`semaphore-agent run`). Parsing validates
// and decodes: env var values and file contents come out as raw bytes.
#pragma once

#include "result.hpp"

#include <jansson.h>

#include <string>
#include <string_view>
#include <vector>

namespace sa {

struct EnvVar {
    std::string name;
    std::string value;  // decoded from base64
};

struct JobFile {
    std::string path;     // as given (absolute, ~/..., or relative to $HOME)
    std::string content;  // decoded from base64
    std::string raw_content;  // the base64 text as given
    std::string mode;     // octal string as given, e.g. "0644"; validated by the worker
    bool content_ok = true;  // false when the base64 did not decode: the
                             // Injecting Files step fails, the parse does not
};

struct Command {
    std::string directive;
    std::string alias;  // empty when none
};

struct Container {
    std::string name, image, command, entrypoint, user;
    std::vector<EnvVar> env_vars;
};

struct ImagePullCredentials {
    std::vector<EnvVar> env_vars;
    std::vector<JobFile> files;
};

struct Compose {
    std::vector<Container> containers;
    std::vector<ImagePullCredentials> image_pull_credentials;
    std::vector<Command> host_setup_commands;
};

struct Callbacks {
    std::string finished, teardown_finished, token;
};

struct Logger {
    std::string method = "pull";  // "pull" or "push"
    std::string url, token;
    long long max_size_in_bytes = 0;  // 0: no limit given
};

struct JobRequest {
    std::string job_id;
    std::string executor = "shell";  // "shell" or "dockercompose"
    Compose compose;
    std::vector<Command> commands;
    std::vector<Command> epilogue_always_commands;
    std::vector<Command> epilogue_on_pass_commands;
    std::vector<Command> epilogue_on_fail_commands;
    std::vector<EnvVar> env_vars;
    std::vector<JobFile> files;
    Callbacks callbacks;
    Logger logger;
    std::vector<std::string> ssh_public_keys;  // decoded from base64
};

// Errors name the field with its path, e.g. "env_vars[2].value: not valid base64".
Result<JobRequest> parse_job_request(const json_t* root);
Result<JobRequest> parse_job_request_json(std::string_view text);
// YAML is mapped to the same JSON shape first (scalars stay strings, except
// that `max_size_in_bytes` accepts a number), so both share one validator.
Result<JobRequest> parse_job_request_yaml(std::string_view text);
// Picks JSON when the first non-blank character is '{', YAML otherwise.
Result<JobRequest> parse_job_request_any(std::string_view text);

// The protocol JSON of a parsed request (values base64 again), so the
// supervisor can hand a validated job to the worker. Lossless round trip.
std::string job_request_to_json(const JobRequest& job);

}  // namespace sa
