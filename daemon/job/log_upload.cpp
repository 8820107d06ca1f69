#include "daemon/job/log_upload.hpp"

#include "common/json.hpp"
#include "daemon/job/spool_reader.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace sa {

Status write_plain_log(const std::string& spool_path, const std::string& out_path) {
    auto reader = SpoolReader::open(spool_path, "cannot read " + spool_path + ": ");
    if (!reader) return err(reader.message());
    std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
    if (!out) return err("cannot write " + out_path + ": " + std::strerror(errno));
    auto st = reader->for_each_line([&](std::string_view line) {
        json_error_t e;
        JsonPtr j(json_loadb(line.data(), line.size(), 0, &e));
        if (!j) return;
        const char* ev = json_string_value(json_object_get(j.get(), "event"));
        if (!ev) return;
        if (std::strcmp(ev, "cmd_started") == 0) {
            const char* d = json_string_value(json_object_get(j.get(), "directive"));
            out << (d ? d : "") << '\n';
        } else if (std::strcmp(ev, "cmd_output") == 0) {
            json_t* o = json_object_get(j.get(), "output");
            out.write(json_string_value(o) ? json_string_value(o) : "",
                      static_cast<std::streamsize>(json_string_length(o)));
        }
    }, SpoolReader::LastLine::Deliver);  // the job is over: a last event without its newline is whole
    if (!st) return st;
    out.flush();
    if (!out) return err("cannot write " + out_path + ": " + std::strerror(errno));
    return Ok{};
}

bool should_upload_logs(const std::string& policy, bool trimmed, long long spool_bytes,
                        long long max_size_in_bytes) {
    if (policy == "always") return true;
    if (policy != "when-trimmed") return false;
    return trimmed || (max_size_in_bytes > 0 && spool_bytes >= max_size_in_bytes);
}

void LogUpload::start(const std::string& spool_path, const std::string& job_dir,
                      const JobRequest& job, long long compression_size,
                      std::function<void()> done) {
    std::string token, job_id, org_url;
    for (const auto& e : job.env_vars) {
        if (e.name == "SEMAPHORE_ARTIFACT_TOKEN") token = e.value;
        else if (e.name == "SEMAPHORE_JOB_ID") job_id = e.value;
        else if (e.name == "SEMAPHORE_ORGANIZATION_URL") org_url = e.value;
    }
    if (token.empty()) {
        log_.warn("Not uploading the job log: the job has no SEMAPHORE_ARTIFACT_TOKEN");
        return done();
    }
    std::string file = job_dir + "/job_logs.txt";
    if (auto st = write_plain_log(spool_path, file); !st) {
        log_.warn("Not uploading the job log: " + st.message());
        return done();
    }
    struct stat sb{};
    ::stat(file.c_str(), &sb);
    bool gz = sb.st_size > compression_size;
    // gzip first when the log is big, then hand it to the artifact CLI.
    std::string script = gz ? "gzip -f \"$1\" && exec artifact push job \"$1.gz\" -d agent/job_logs.txt.gz"
                            : "exec artifact push job \"$1\" -d agent/job_logs.txt";
    proc_ = std::make_unique<HookProcess>(loop_, log_);
    auto st = proc_->start({"sh", "-c", script, "sh", file},
                           {"SEMAPHORE_ARTIFACT_TOKEN=" + token, "SEMAPHORE_JOB_ID=" + job_id,
                            "SEMAPHORE_ORGANIZATION_URL=" + org_url},
                           [this, done](int code) {
                               if (code == 127) log_.warn("Uploading the job log: the artifact CLI is not installed");
                               else if (code != 0) log_.warn("Uploading the job log failed with status " + std::to_string(code));
                               else log_.info("Uploaded the job log as a job artifact");
                               done();
                           });
    if (!st) {
        log_.warn("Uploading the job log: " + st.message());
        done();
    }
}

}  // namespace sa
